"""The nightly batch reconciliation: pull, match, update golden records, report.

Source records are pulled per source (each in its own transaction); all golden
state of the run — matching state, golden records, links, relations, review
tasks, history, change feed and the run's own "succeeded" mark — commits in one
transaction. A run killed at any point leaves the golden state as it was, and
the next run redoes the same work (what changed is measured against the last
*committed* matching state) and reaches the same result. Steward actions are
serialised with the golden update (:func:`golden.lock_golden_writes`); if
stewards ruled while matching ran, matching is redone before applying.
"""
from __future__ import annotations

import fcntl
import logging
import os
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import case, func, select, text, update
from sqlalchemy.orm import Session

from ..config import Config
from ..errors import MdmError
from ..store import Store
from ..store import models as m
from . import match_cache
from .golden import apply_matching, lock_golden_writes
from .matching import MatchingOutcome, run_matching
from .pull import pull_sources

log = logging.getLogger(__name__)

STAGES = ("pull", "match", "golden", "report")
#: Matching is redone (at most this many times in all) when stewards rule while it runs.
MATCH_ATTEMPTS = 3


class ReconcileLocked(MdmError):
    pass


def _checkpoint(name: str) -> None:
    """Test hook: ``MDM_KILL_AT=<name>`` kills this process with SIGKILL right here."""
    if os.environ.get("MDM_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


@contextmanager
def reconcile_lock(config: Config, store: Store) -> Iterator[None]:
    """One reconciliation at a time: a lock file in the var folder, plus an advisory
    lock on PostgreSQL (several hosts may share one database)."""
    config.var_dir.mkdir(parents=True, exist_ok=True)
    path = config.var_dir / "reconcile.lock"
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ReconcileLocked(f"another reconciliation is running (lock {path} is held)") from None
        conn = None
        try:
            if store.dialect == "postgresql":
                conn = store.engine.connect()
                if not conn.execute(text("SELECT pg_try_advisory_lock(727001)")).scalar():
                    # Not ours: closing the connection below must not try to release it.
                    conn.close()
                    conn = None
                    raise ReconcileLocked("another reconciliation is running on this database")
                # The lock belongs to the database session, not to a transaction: end the
                # transaction so the connection does not sit "idle in transaction" for the
                # whole run (idle_in_transaction_session_timeout would end it, and the lock).
                conn.commit()
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
            yield
        finally:
            if conn is not None:
                conn.execute(text("SELECT pg_advisory_unlock(727001)"))
                conn.commit()
                conn.close()
            fcntl.flock(fh, fcntl.LOCK_UN)


def _decisions_marker(session: Session) -> tuple[Any, ...]:
    """Changes whenever a steward decision is added or revoked, or a record is stored or
    changed by match-on-entry (``/resolve`` with persist): matching must then see them too."""
    count, top = session.execute(select(func.count(), func.coalesce(func.max(m.StewardDecision.id), 0))).one()
    revoked = session.scalar(select(func.count()).select_from(m.StewardDecision)
                             .where(m.StewardDecision.revoked_at.is_not(None)))
    newest_record = session.scalar(select(func.coalesce(func.max(m.SourceRecord.id), 0)))
    # Match-on-entry writes records without a run (changed_run_id NULL), stamping last_seen.
    unrun, unrun_seen = session.execute(select(func.count(), func.max(m.SourceRecord.last_seen))
                                        .where(m.SourceRecord.changed_run_id.is_(None))).one()
    return int(count), int(top), int(revoked or 0), int(newest_record or 0), int(unrun), unrun_seen


def _describe_matching(report: dict[str, Any], outcome: MatchingOutcome) -> None:
    report["matching"] = {
        "records": len(outcome.record_ids), "changed_records": len(outcome.changed_ids),
        "full": outcome.full,
        # Records clustered again (a nightly run re-clusters only what a change can reach).
        "clustered_records": len(outcome.record_ids) if outcome.scope is None else len(outcome.scope), "model_version": outcome.model.version,
        "model_trained": outcome.model_is_new, "pairs_scored": len(outcome.new_edges),
        "pairs_kept": len(outcome.pairs),
        "auto_links": sum(1 for p in outcome.pairs.values()
                          if p.kind == "auto" and p.match_probability >= outcome.rules.auto_link),
        "rule_links": sum(1 for p in outcome.pairs.values() if p.kind == "rule"),
        "review_pairs": len(outcome.review), "conflicts": len(outcome.clusters.conflicts),
        "timings": outcome.timings,
    }


WEIGHT_EDGES = [-10, -5, 0, 5, 10, 15, 20, 25, 30, 40]


def _describe_store(session: Session, report: dict[str, Any]) -> None:
    """Cluster sizes and the match-weight distribution of the whole store as this run leaves it
    (a nightly run clusters only part of it, so its outcome alone would not tell)."""
    per_golden = (select(func.count().label("n")).select_from(m.GoldenLink)
                  .group_by(m.GoldenLink.golden_id).subquery())
    sizes = session.execute(select(per_golden.c.n, func.count()).group_by(per_golden.c.n)
                            .order_by(per_golden.c.n)).all()
    report["cluster_sizes"] = {str(int(n)): int(c) for n, c in sizes}
    bucket = case(*[(m.MatchEdge.match_weight < edge, i) for i, edge in enumerate(WEIGHT_EDGES[1:-1])],
                  else_=len(WEIGHT_EDGES) - 2)
    counts = dict(session.execute(select(bucket, func.count()).group_by(bucket)).all())
    report["match_weight_histogram"] = [
        {"from": WEIGHT_EDGES[i], "to": WEIGHT_EDGES[i + 1], "count": int(counts.get(i, 0))}
        for i in range(len(WEIGHT_EDGES) - 1)]


def reconcile(store: Store, config: Config, *, full: bool = False, retrain: bool = False,
              stage_done: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run one reconciliation; returns its report (also stored on the run row)."""
    stage_done = stage_done or (lambda name, info: None)
    with reconcile_lock(config, store):
        with store.session() as s:
            # A run that was killed never finished: say so.
            s.execute(update(m.ReconciliationRun).where(m.ReconciliationRun.status == "running")
                      .values(status="failed", error="interrupted", finished_at=m.utcnow()))
            run = m.ReconciliationRun(kind="reconcile", status="running")
            s.add(run)
            s.flush()
            run_id = run.id
        started = time.monotonic()
        report: dict[str, Any] = {"run_id": run_id, "started_at": run.started_at.isoformat(), "stages": {}}
        snapshot = _SnapshotWriter()
        try:
            t = time.monotonic()
            sources = pull_sources(store, config, config.sources, run_id)
            report["sources"] = [r.as_dict() for r in sources]
            report["stages"]["pull"] = round(time.monotonic() - t, 3)
            stage_done("pull", {"sources": sources})
            _checkpoint("after_pull")

            for attempt in range(1, MATCH_ATTEMPTS + 1):
                with store.session() as s:
                    marker = _decisions_marker(s)
                t = time.monotonic()
                outcome = run_matching(store, config, full=full, retrain=retrain)
                snapshot.discard()  # an earlier attempt's
                snapshot = _SnapshotWriter(config, (run_id, match_cache.run_stamp(run.started_at)), outcome)
                report["stages"]["match"] = round(time.monotonic() - t, 3)
                _describe_matching(report, outcome)
                stage_done("match", {})
                _checkpoint("after_match")

                t = time.monotonic()
                with store.session() as s:
                    # From here until commit no steward action can change golden state.
                    lock_golden_writes(s)
                    if _decisions_marker(s) != marker and attempt < MATCH_ATTEMPTS:
                        # A steward ruled while we matched: applying this outcome would undo
                        # the ruling until the next run (e.g. split a steward's merge again).
                        log.info("steward decisions changed during matching; matching again")
                        continue
                    golden = apply_matching(s, outcome, run_id)
                    # Records stored by match-on-entry are matched now: this run owns them, so the
                    # next nightly run does not count them as changed again (the marker above
                    # proves none was written since matching read the store).
                    s.execute(update(m.SourceRecord).where(m.SourceRecord.changed_run_id.is_(None))
                              .values(changed_run_id=run_id))
                    _describe_store(s, report)
                    _checkpoint("before_commit")
                    report["golden"] = golden.as_dict()
                    report["stages"]["golden"] = round(time.monotonic() - t, 3)
                    report["seconds"] = round(time.monotonic() - started, 3)
                    report["finished_at"] = m.utcnow().isoformat()
                    report["status"] = "succeeded" if all(r.status == "ok" for r in sources) else "partial"
                    s.execute(update(m.ReconciliationRun).where(m.ReconciliationRun.id == run_id)
                              .values(status="succeeded", finished_at=m.utcnow(), report=report))
                break
            stage_done("golden", {})
            _checkpoint("after_commit")
            snapshot.publish()
        except BaseException as exc:
            snapshot.discard()
            with store.session() as s:
                s.execute(update(m.ReconciliationRun).where(m.ReconciliationRun.id == run_id)
                          .values(status="failed", finished_at=m.utcnow(),
                                  error=f"{exc.__class__.__name__}: {exc}"[:2000]))
            raise
    return report


class _SnapshotWriter:
    """The next run's starting point (see :mod:`match_cache`), written while the golden stage runs.

    Writing it is mostly Arrow and Parquet work that runs outside the GIL, so
    it goes on a thread as soon as matching is done; the file is put in place
    only after the run committed (:meth:`publish`), otherwise removed
    (:meth:`discard`). Losing it only costs the next run time.
    """

    def __init__(self, config: Config | None = None, run: tuple[int, str] | None = None,
                 outcome: MatchingOutcome | None = None) -> None:
        self._future: Future[Path] | None = None
        if config is None or run is None or outcome is None or outcome.frame is None:
            return
        self._started = time.monotonic()
        pool = ThreadPoolExecutor(1, thread_name_prefix="match-cache")
        self._future = pool.submit(match_cache.write_pending, config.var_dir, match_cache.Snapshot(
            run, outcome.model.version, outcome.frame, outcome.feature_hashes, outcome.identity_values,
            outcome.decisions))
        pool.shutdown(wait=False)

    def _written(self) -> Path | None:
        future, self._future = self._future, None
        if future is None:
            return None
        try:
            return future.result()
        except Exception as exc:  # noqa: BLE001 - a missing cache is rebuilt by the next run
            log.warning("could not write the match cache (%s); the next run rebuilds it", exc)
            return None

    def publish(self) -> None:
        pending = self._written()
        if pending is None:
            return
        try:
            match_cache.publish(pending)
        except OSError as exc:
            log.warning("could not write the match cache (%s); the next run rebuilds it", exc)
            pending.unlink(missing_ok=True)
            return
        log.info("match cache written in %.1f s (while the golden stage ran)", time.monotonic() - self._started)

    def discard(self) -> None:
        pending = self._written()
        if pending is not None:
            pending.unlink(missing_ok=True)


def write_report_files(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """The report as JSON and as a readable HTML page (charts drawn as inline SVG)."""
    import json

    from .report_html import render_report

    directory.mkdir(parents=True, exist_ok=True)
    base = directory / f"run-{report['run_id']}"
    json_path, html_path = base.with_suffix(".json"), base.with_suffix(".html")
    json_path.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    html_path.write_text(render_report(report), encoding="utf-8")
    return json_path, html_path
