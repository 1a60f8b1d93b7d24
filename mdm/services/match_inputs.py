"""What a full matching run starts from: every current record's features, their hashes, sources
and identity values - read once from the store.

Reading a million standardised records builds gigabytes of short-lived Python
objects, and a process does not give that memory back (its allocator keeps
the arenas), so it would still be held while DuckDB trains and scores - the
run's memory peak. A big store is therefore read by a child process, which
hands over a compact Arrow table and exits, taking the garbage with it.
Small stores (tests, a laptop) are read in process: a child costs a second or two.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator, Mapping

import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matching import features as F
from rules.identity import MatchRules, load_match_rules, strong_value

from ..store import Store
from ..store.db import url_for_workers
from ..store import models as m

#: Identity values per rule: rule name -> record id -> value.
IdentityValues = dict[str, dict[int, str]]


def load_records(session: Session) -> Iterator[tuple[int, str, dict[str, Any], str | None]]:
    """(record id, source name, standardised, updated-at) of every current person record, by id.

    Streamed in chunks: the standardised JSON of a million records is not held at once.
    """
    result = session.execute(
        select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.standardised,
               m.SourceRecord.source_updated_at)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .where(m.SourceRecord.deleted_at.is_(None), m.SourceRecord.kind == "person")
        .order_by(m.SourceRecord.id)
        .execution_options(yield_per=5000)
    )
    for r in result:
        yield int(r[0]), sys.intern(r[1]), r[2], r[3].isoformat() if r[3] else None


def digest_records(session: Session, rules: MatchRules) -> tuple[list[dict[str, Any]], dict[int, str],
                                                                  IdentityValues]:
    """One pass over the records: feature rows, sources, and each identity rule's values."""
    rows: list[dict[str, Any]] = []
    sources: dict[int, str] = {}
    values: IdentityValues = {r.name: {} for r in rules.identity_rules}
    for rid, src, std, _updated in load_records(session):
        rows.append(F.record_features(rid, src, std))
        sources[rid] = src
        for rule in rules.identity_rules:
            value = strong_value(std, rule)
            if value:
                values[rule.name][rid] = value
    return rows, sources, values


def feature_hashes(frame: pd.DataFrame) -> dict[int, str]:
    """A hash of each record's matching features, holder counts included."""
    cols = [c for c in F.COLUMNS if c not in ("unique_id", "source_dataset")]
    out = {}
    for row in frame[["unique_id", *cols]].itertuples(index=False, name=None):
        text = json.dumps(row[1:], default=str, ensure_ascii=False)
        out[int(row[0])] = hashlib.md5(text.encode("utf-8")).hexdigest()
    return out


def child_threshold() -> int:
    """Stores with more current records than this are read by a child process
    (``MDM_MATCH_READ_CHILD_AFTER``, default 50,000)."""
    return int(os.environ.get("MDM_MATCH_READ_CHILD_AFTER", "50000"))


def read_full(store: Store, matching_options: Mapping[str, Any], rules: MatchRules,
              var_dir: Path) -> tuple[pd.DataFrame | pa.Table, dict[int, str], dict[int, str], IdentityValues]:
    """(features, feature hashes, sources, identity values) of every current record.

    Features are a pandas frame (:func:`matching.features.frame_from_rows`) when
    read in process, an Arrow table of :data:`matching.features.ARROW_SCHEMA`
    when read by a child; :func:`matching.features.frame_from_arrow` turns one
    into the other exactly. Reads in transactions of its own (none is left
    open, idle, while a child reads).
    """
    with store.session() as session:
        current = session.scalar(select(func.count()).select_from(m.SourceRecord).where(
            m.SourceRecord.deleted_at.is_(None), m.SourceRecord.kind == "person")) or 0
        url = url_for_workers(store.engine)
        if current <= child_threshold() or url is None:
            rows, sources, identity = digest_records(session, rules)
            frame = F.frame_from_rows(rows)
            return frame, feature_hashes(frame), sources, identity
    var_dir.mkdir(parents=True, exist_ok=True)
    folder = tempfile.mkdtemp(prefix="match-inputs-", dir=var_dir)  # 0700: the file holds HETUs
    try:
        path = os.path.join(folder, "features.arrow")
        # Spawned, not forked: the parent holds database connections.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            pool.submit(_read_to_file, url, dict(matching_options), path).result()
        with pa.OSFile(path, "rb") as source:
            table = pa.ipc.open_file(source).read_all()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ids = table.column("unique_id").to_pylist()
    hashes = dict(zip(ids, table.column("feature_hash").to_pylist()))
    sources = dict(zip(ids, map(sys.intern, table.column("source_dataset").to_pylist())))
    identity = {rule.name: {rid: v for rid, v in zip(ids, table.column(f"identity:{rule.name}").to_pylist())
                            if v is not None} for rule in rules.identity_rules}
    return table.select(F.COLUMNS), hashes, sources, identity


def _read_to_file(url: str, matching_options: dict[str, Any], path: str) -> None:
    """In the child: read the store, write features + hash + identity columns as an Arrow file."""
    rules = load_match_rules(matching_options)
    store = Store(url)
    try:
        with store.session() as s:
            rows, sources, identity = digest_records(s, rules)
    finally:
        store.dispose()
    del sources  # the parent takes them from source_dataset
    frame = F.frame_from_rows(rows)
    del rows
    hashes = feature_hashes(frame)
    ids = frame["unique_id"].tolist()
    table = F.frame_to_arrow(frame)
    del frame
    table = table.append_column("feature_hash", pa.array([hashes[i] for i in ids], pa.string()))
    for rule in rules.identity_rules:
        held = identity[rule.name]
        table = table.append_column(f"identity:{rule.name}", pa.array([held.get(i) for i in ids], pa.string()))
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
