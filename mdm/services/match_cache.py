"""The matching input of the last successful run, kept as a file for the next (nightly) run.

A nightly run where 1 % of the records changed must not rebuild the feature
table of a million records from their standardised JSON: that alone took most
of its time. After each successful reconciliation the feature table (with
holder counts, feature hashes and identity-rule values) is written to
``<var>/match-cache/features.parquet``, tagged with the run's id and model
version. The next run uses it only if that run is still the last successful
reconciliation and the model is the same; it then re-reads just the records
pulled as new, changed or deleted since (``source_record.changed_run_id``),
and recounts the holders of only the phones, e-mails and addresses they
held or hold.

It is a cache and nothing more: the store stays the truth. If it is missing,
stale (a run died between its commit and writing the file), unreadable or
for another model, the run builds everything from the store as before.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
from datetime import timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from matching import features as F
from rules.identity import MatchRules, strong_value

from ..store import models as m

log = logging.getLogger(__name__)

CACHE_DIR = "match-cache"
CACHE_FILE = "features.parquet"
FORMAT = 1
_HOLDER_COLUMNS = {"phone": "phone", "email": "email", "address_key": "address"}


@dataclass
class Snapshot:
    """What one run matched on: the whole feature table and what goes with it."""

    run: tuple[int, str]  # (id, run_stamp of its start), see last_successful_run
    model_version: int
    frame: pd.DataFrame  # F.COLUMNS, ordered by unique_id
    hashes: dict[int, str]
    identity_values: dict[str, dict[int, str]]  # rule name -> record id -> value
    decisions: dict[int, bool]  # steward decision id -> revoked?


@dataclass
class Update:
    """The current matching input, built from a snapshot and what changed since."""

    frame: pd.DataFrame
    hashes: dict[int, str]
    sources: dict[int, str]
    identity_values: dict[str, dict[int, str]]
    touched: set[int]  # records pulled as new, changed or deleted since the snapshot's run
    deleted: set[int]  # of those, no longer current (deleted, or not a person any more)
    old_identity_values: dict[str, dict[int, str]]


def cache_path(var_dir: Path) -> Path:
    return var_dir / CACHE_DIR / CACHE_FILE


def last_successful_run(session: Session) -> tuple[int, str] | None:
    """(id, start time) of the last successful reconciliation: what a snapshot must be of.

    The start time tells two stores apart that share a var folder (a test database
    and the real one, a restored backup) and happen to be at the same run id.
    """
    run_id = session.scalar(select(func.max(m.ReconciliationRun.id)).where(
        m.ReconciliationRun.kind == "reconcile", m.ReconciliationRun.status == "succeeded"))
    if run_id is None:
        return None
    return int(run_id), run_stamp(session.scalar(
        select(m.ReconciliationRun.started_at).where(m.ReconciliationRun.id == run_id)))


def run_stamp(started_at: Any) -> str:
    """A run's start time as text, the same whether the database kept the time zone or not."""
    if not started_at:
        return ""
    if started_at.tzinfo is not None:  # PostgreSQL answers in the session's zone; the store writes UTC
        started_at = started_at.astimezone(timezone.utc).replace(tzinfo=None)
    return started_at.isoformat(timespec="seconds")


def save(var_dir: Path, snapshot: Snapshot) -> Path:
    """Write the snapshot atomically (a reader sees the old file or the new one, never half)."""
    return publish(write_pending(var_dir, snapshot))


def publish(pending: Path) -> Path:
    """Put a snapshot written by :func:`write_pending` in place (atomically)."""
    path = pending.parent / CACHE_FILE
    os.replace(pending, path)
    return path


def write_pending(var_dir: Path, snapshot: Snapshot) -> Path:
    """Write the snapshot next to the current one, not yet in its place: :func:`publish` it, or unlink it."""
    # The extra columns go on as Arrow arrays, not onto a copy of the frame through Series.map
    # (a dict turned into a Series per column): this runs on a thread beside the golden stage,
    # and that pandas work held the GIL it needs. Read back the same (load takes text or None).
    table = pa.Table.from_pandas(snapshot.frame, preserve_index=False)
    ids = snapshot.frame["unique_id"].tolist()
    table = table.append_column("feature_hash", pa.array([snapshot.hashes.get(i) for i in ids], pa.string()))
    for name, values in snapshot.identity_values.items():
        table = table.append_column(f"identity:{name}", pa.array([values.get(i) for i in ids], pa.string()))
    meta = {"format": FORMAT, "run": list(snapshot.run), "model_version": snapshot.model_version,
            "rules": sorted(snapshot.identity_values),
            "decisions": sorted([k, v] for k, v in snapshot.decisions.items())}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"mdm": json.dumps(meta).encode("utf-8")})
    path = cache_path(var_dir)
    # It holds personal data (names, birth dates, HETUs): readable by the service user only.
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    try:
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as fh:
            pq.write_table(table, fh)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def load(var_dir: Path, run: tuple[int, str] | None, model_version: int, rules: MatchRules) -> Snapshot | None:
    """The snapshot of ``run`` for this model, or None (then the caller rebuilds)."""
    path = cache_path(var_dir)
    if run is None or not path.exists():
        return None
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"mdm", b"{}"))
    except (OSError, ValueError, pa.ArrowException) as exc:
        log.warning("match cache %s unreadable (%s); rebuilding from the store", path, exc)
        return None
    names = sorted(r.name for r in rules.identity_rules)
    if (meta.get("format") != FORMAT or meta.get("run") != list(run)
            or meta.get("model_version") != model_version or meta.get("rules") != names):
        log.info("match cache is not for run %s / model %s; rebuilding from the store", run[0], model_version)
        return None
    ids = table.column("unique_id").to_numpy()
    hashes = dict(zip(ids.tolist(), table.column("feature_hash").to_pylist()))
    identity = {}
    for name in names:
        values = table.column(f"identity:{name}").to_pylist()
        identity[name] = {rid: v for rid, v in zip(ids.tolist(), values) if v is not None}
    frame = F.frame_from_arrow(table.select(F.COLUMNS))
    return Snapshot(run, model_version, frame, hashes, identity,
                    {int(k): bool(v) for k, v in meta.get("decisions", [])})


def changed_since(run_id: int) -> Any:
    """Where-clause: source records pulled as new, changed or deleted after run ``run_id``.

    Records stored by match-on-entry carry no run (``changed_run_id`` NULL) and count as changed.

    As ``id IN (ids found through the changed_run_id index)``: written straight on the
    outer query, with its ``ORDER BY id``, SQLite scanned the whole table in id order
    (about 0.5 s at 250,000 records, to find the 1 % of a nightly run); the subquery is
    answered from the index (a few ms). Same rows either way.
    """
    sr = aliased(m.SourceRecord)
    return m.SourceRecord.id.in_(
        select(sr.id).where((sr.changed_run_id > run_id) | sr.changed_run_id.is_(None)))


def _changed_since(session: Session, run_id: int) -> list[tuple[int, str, dict[str, Any] | None, bool]]:
    """(record id, source, standardised, current person?) of records changed after ``run_id``."""
    rows = session.execute(
        select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.kind, m.SourceRecord.deleted_at)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .where(changed_since(run_id))
        .order_by(m.SourceRecord.id)
    ).all()
    current = [int(r.id) for r in rows if r.deleted_at is None and r.kind == "person"]
    std: dict[int, dict[str, Any]] = {}
    for i in range(0, len(current), 5000):
        std.update(session.execute(select(m.SourceRecord.id, m.SourceRecord.standardised)
                                   .where(m.SourceRecord.id.in_(current[i:i + 5000]))).all())
    return [(int(r.id), sys.intern(r.name), std.get(int(r.id)), int(r.id) in std) for r in rows]


def apply_changes(session: Session, snapshot: Snapshot, rules: MatchRules) -> Update:
    """The snapshot brought up to date with the records changed since its run."""
    changed = _changed_since(session, snapshot.run[0])
    touched = {rid for rid, _src, _std, _cur in changed}
    old = snapshot.frame[snapshot.frame["unique_id"].isin(touched)]
    new_rows = [F.record_features(rid, src, std) for rid, src, std, cur in changed if cur and std is not None]
    for row in new_rows:
        row["given_names"] = row["given_names"] or None
        row["surnames"] = row["surnames"] or None
        for prefix in _HOLDER_COLUMNS.values():  # filled below; None, not NaN, until then
            row[f"{prefix}_holders"] = row[f"{prefix}_block"] = None
    new = pd.DataFrame.from_records(new_rows, columns=F.COLUMNS)
    kept = snapshot.frame[~snapshot.frame["unique_id"].isin(touched)]
    if len(new):
        new = new.astype(kept.dtypes.to_dict())
        # Column by column, each of one dtype on both sides (concat's rules for mixed all-NA
        # columns are changing; for equal dtypes they are settled) - no object round trip.
        frame = pd.DataFrame({c: pd.concat([kept[c], new[c]], ignore_index=True) for c in F.COLUMNS})
    else:
        frame = kept.copy()
    frame = frame.sort_values("unique_id", kind="stable", ignore_index=True)

    # Holder counts change only for the values the changed records held or hold.
    recount = set(int(x) for x in new["unique_id"])
    for column, prefix in _HOLDER_COLUMNS.items():
        affected = (set(old[column].dropna()) | set(new[column].dropna())) if len(new) or len(old) else set()
        if not affected:
            continue
        mask = frame[column].isin(affected)
        sub = frame.loc[mask, ["unique_id", column, "given_names", "birth_date"]]
        groups: dict[str, list[dict[str, Any]]] = {}
        for rid, value, given, birth in sub.itertuples(index=False, name=None):
            groups.setdefault(value, []).append({"given_names": given or [], "birth_date": birth})
        counts = {value: F._holders(group) for value, group in groups.items()}
        holders = sub[column].map(counts).astype("Int64")
        frame.loc[mask, f"{prefix}_holders"] = holders
        block = sub[column].where(holders.le(F.MAX_BLOCKING_HOLDERS).fillna(False).astype(bool), None)
        frame[f"{prefix}_block"] = frame[f"{prefix}_block"].astype(object)
        frame.loc[mask, f"{prefix}_block"] = block.astype(object).where(block.notna(), None)
        recount.update(int(x) for x in sub["unique_id"])
    for col in ("phone_holders", "email_holders", "address_holders"):
        frame[col] = frame[col].astype("Int64")

    from .match_inputs import feature_hashes  # the one definition of a feature hash

    hashes = dict(snapshot.hashes)
    for rid in touched:
        hashes.pop(rid, None)
    if recount:
        hashes.update(feature_hashes(frame[frame["unique_id"].isin(recount)]))

    identity: dict[str, dict[int, str]] = {}
    by_id = {rid: std for rid, _src, std, cur in changed if cur and std is not None}
    for rule in rules.identity_rules:
        values = {rid: v for rid, v in snapshot.identity_values.get(rule.name, {}).items() if rid not in touched}
        for rid, std in by_id.items():
            value = strong_value(std, rule)
            if value:
                values[rid] = value
        identity[rule.name] = values
    sources = dict(zip(frame["unique_id"].tolist(), frame["source_dataset"].tolist()))
    deleted = {rid for rid, _src, _std, cur in changed if not cur}
    return Update(frame, hashes, sources, identity, touched, deleted, snapshot.identity_values)
