"""Shared helpers of the reconciliation, golden-record and stewardship tests.

Not a test module of its own (it holds one sanity test of the helpers): the
other ``test_reconcile_*`` / ``test_golden_*`` / ``test_stewardship`` modules
import it by name, which works because ``tests/`` is on ``sys.path`` under
pytest's default import mode.
"""
from __future__ import annotations

import atexit
import functools
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from mdm.store import Store
from mdm.store import models as m

# The installed console script, exactly as an operator runs it.
MDM = [str(Path(sys.executable).with_name("mdm"))]

#: Tables whose rows are "golden state": a killed run must leave every one of them as it was.
GOLDEN_TABLES = (m.GoldenRecord, m.GoldenLink, m.GoldenRelation, m.GoldenHistory, m.ChangeEvent,
                 m.ReviewTask, m.MatchEdge, m.MatchState, m.MatchingModel, m.StewardDecision,
                 m.AttributeOverride)


def table_counts(store: Store) -> dict[str, int]:
    """Row count of every golden-state table."""
    with store.session() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) for t in GOLDEN_TABLES}


def record_keys(store: Store) -> dict[int, tuple[str, str]]:
    """Record id -> (source name, source id): states are compared by keys, never by row ids."""
    with store.session() as s:
        return {rid: (src, sid) for rid, src, sid in s.execute(
            select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.source_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id))}


def golden_state(store: Store) -> dict[str, Any]:
    """Everything a reconciliation decides, without run ids and timestamps.

    Golden ids and statuses with redirects, surviving attributes and identifier
    sets, links, lifted relations, open review tasks, history and change-feed
    event types per golden record, and the stored matching state.
    """
    keys = record_keys(store)
    with store.session() as s:
        goldens = {r.id: (r.status, r.redirect_to, r.attributes, sorted(r.identifier_set or []))
                   for r in s.execute(select(m.GoldenRecord.id, m.GoldenRecord.status, m.GoldenRecord.redirect_to,
                                             m.GoldenRecord.attributes, m.GoldenRecord.identifier_set))}
        links = {keys[r.source_record_id]: (r.golden_id, r.kind, None if r.score is None else round(r.score, 9))
                 for r in s.execute(select(m.GoldenLink.source_record_id, m.GoldenLink.golden_id,
                                           m.GoldenLink.kind, m.GoldenLink.score))}
        relations = sorted(s.execute(select(m.GoldenRelation.type, m.GoldenRelation.subject_golden_id,
                                            m.GoldenRelation.object_golden_id, m.GoldenRelation.label)).all())
        tasks = sorted((keys[a], keys[b], reason) for a, b, reason in s.execute(
            select(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id, m.ReviewTask.reason)
            .where(m.ReviewTask.status == "open")))
        history: dict[str, list[str]] = {}
        for gid, kind in s.execute(select(m.GoldenHistory.golden_id, m.GoldenHistory.event_type)
                                   .order_by(m.GoldenHistory.id)):
            history.setdefault(gid, []).append(kind)
        feed = Counter((gid, kind) for gid, kind in s.execute(
            select(m.ChangeEvent.golden_id, m.ChangeEvent.event_type)))
        edges = sorted((keys[a], keys[b], round(p, 9)) for a, b, p in s.execute(
            select(m.MatchEdge.left_record_id, m.MatchEdge.right_record_id, m.MatchEdge.match_probability)))
        states = {keys[rid]: h for rid, h in s.execute(
            select(m.MatchState.source_record_id, m.MatchState.feature_hash))}
        models = sorted(s.execute(select(m.MatchingModel.version, m.MatchingModel.active)).all())
    return {"goldens": goldens, "links": links, "relations": relations, "open_tasks": tasks,
            "history": {g: sorted(v) for g, v in history.items()}, "feed": dict(feed),
            "edges": edges, "match_state": states, "models": models}


def members_by_golden(store: Store) -> dict[str, set[tuple[str, str]]]:
    """Active golden id -> the (source, source id) keys of its current records."""
    out: dict[str, set[tuple[str, str]]] = {}
    with store.session() as s:
        for gid, src, sid in s.execute(
                select(m.GoldenLink.golden_id, m.SourceSystem.name, m.SourceRecord.source_id)
                .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
                .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)):
            out.setdefault(gid, set()).add((src, sid))
    return out


def golden_of(store: Store) -> dict[tuple[str, str], str]:
    """(source, source id) -> golden id of every linked record."""
    return {key: gid for gid, keys in members_by_golden(store).items() for key in keys}


def copy_sqlite(src: Path, dst: Path) -> None:
    """A consistent copy of a SQLite store (WAL included), through the backup API."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    a, b = sqlite3.connect(src), sqlite3.connect(dst)
    try:
        a.backup(b)
    finally:
        a.close()
        b.close()


def cli_env(db_path: Path, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MDM_")}
    env.update(MDM_DATABASE_URL=f"sqlite:///{db_path}", MDM_VAR_DIR=str(var_dir), **extra)
    return env


def start_cli(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """``mdm ARGS`` as a real subprocess (started, not waited for)."""
    return subprocess.Popen([*MDM, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MDM, *args], env=env, capture_output=True, text=True, timeout=timeout)


@functools.cache
def demo_source(persons: int = 300, seed: int = 5) -> Path:
    """A demo export generated once per test session (copy it before editing)."""
    from mdm.demo_data import generate

    out = Path(tempfile.mkdtemp(prefix="mdm-demo-"))
    atexit.register(shutil.rmtree, out, ignore_errors=True)
    generate(out / "demo", persons=persons, seed=seed)
    return out / "demo"


def private_demo(tmp: Path, persons: int = 300, seed: int = 5) -> Path:
    """A private copy of the shared demo export that a test may edit."""
    out = tmp / "demo"
    shutil.copytree(demo_source(persons, seed), out)
    return out


@functools.cache
def trained_model(persons: int = 300, seed: int = 5) -> dict[str, Any]:
    """The matching model a first reconciliation of the shared demo trains, trained once
    per session: tests that need reconciled data but not training seed their store with it."""
    from mdm.config import load_config
    from mdm.services.reconcile import reconcile

    work = Path(tempfile.mkdtemp(prefix="mdm-model-"))
    try:
        st = Store(f"sqlite:///{work / 'mdm.sqlite'}")
        st.upgrade()
        config = load_config(demo_source(persons, seed) / "mdm.toml")
        config.var_dir = work / "var"
        reconcile(st, config)
        with st.session() as s:
            row = s.scalars(select(m.MatchingModel).where(m.MatchingModel.active.is_(True))).one()
            model = {"version": row.version, "settings_fingerprint": row.settings_fingerprint,
                     "document": row.document}
        st.dispose()
        return model
    finally:
        shutil.rmtree(work, ignore_errors=True)


def seed_model(store: Store, persons: int = 300, seed: int = 5) -> None:
    """Store the shared trained model as the active one (the first reconcile then skips training)."""
    with store.session() as s:
        s.add(m.MatchingModel(active=True, **trained_model(persons, seed)))


def test_golden_state_of_an_empty_store_is_empty(sqlite_store):
    state = golden_state(sqlite_store)
    assert all(not v for v in state.values())
    assert set(table_counts(sqlite_store).values()) == {0}


def edit_csv(path: Path, edit: Any) -> None:
    """Rewrite a CSV export: ``edit(rows)`` gets the rows as dicts and returns the new rows."""
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        fields = list(reader.fieldnames or ())
        rows = list(reader)
    rows = edit(rows)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def change_demo(demo: Path) -> None:
    """A typical night's changes: a renamed patron, two closed accounts, a duplicate
    account of an existing patron, a new phone number on a travel card."""

    def library(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[0]["surname"] = "Uusinimi"
        dup = dict(rows[10], borrowernumber="99001", cardnumber="2079900001")
        return [r for i, r in enumerate(rows) if i not in (5, 6)] + [dup]

    def transit(rows: list[dict[str, str]]) -> list[dict[str, str]]:
        rows[3]["phone"] = "+358401112233"
        return rows

    edit_csv(demo / "library" / "patrons.csv", library)
    edit_csv(demo / "transit" / "cards.csv", transit)


def counted_pools(monkeypatch: Any, module: Any) -> list[Any]:
    """The process pools ``module`` makes from now on (its ProcessPoolExecutor, counted)."""
    made: list[Any] = []

    class CountedPool(module.ProcessPoolExecutor):  # type: ignore[name-defined,misc]
        def __init__(self, *args: Any, **kw: Any) -> None:
            super().__init__(*args, **kw)
            made.append(self)

    monkeypatch.setattr(module, "ProcessPoolExecutor", CountedPool)
    return made
