"""Surviving attributes and identifier sets of many golden records, in worker processes for a big run.

A full reconciliation recomputes every golden record: it reads every linked
record's standardised JSON again and runs survivorship on it - a third of the
golden stage, all of it pure work on committed data. Above ``threshold``
records that work is split into batches computed by worker processes (each
reads the records through its own connection: source records are committed by
the pull before matching starts), while the run's own process goes on writing
what does not depend on it. Results come back in batch order, so history and
change events are recorded in the same order either way.
"""
from __future__ import annotations

import multiprocessing
import os
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, Iterable, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from rules.survivorship import load_survivorship, survive

from ..store import Store
from ..store import models as m
from ..store.db import url_for_workers

#: One golden record to compute: (cluster key, its record ids, the steward's overrides or None).
Job = tuple[int, list[int], dict[str, Any] | None]
#: Its result: (cluster key, surviving attributes, identifier set as "type:value" entries).
Result = tuple[int, dict[str, Any], set[str]]


def identifier_set(std: dict[str, Any]) -> set[str]:
    return {f"{i['type']}:{i['value']}" for i in std.get("identifiers") or () if i.get("value")}


def record_data(session: Session, record_ids: list[int]) -> dict[int, tuple[int, str, dict[str, Any], str | None]]:
    """Survivorship input of these records: (record id, source, standardised, updated-at)."""
    out = {}
    for i in range(0, len(record_ids), 5000):
        for rid, src, std, updated in session.execute(
                select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.standardised,
                       m.SourceRecord.source_updated_at)
                .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
                .where(m.SourceRecord.id.in_(record_ids[i:i + 5000]))):
            out[int(rid)] = (int(rid), src, std, updated.isoformat() if updated else None)
    return out


def compute(session: Session, jobs: list[Job]) -> list[Result]:
    rules = load_survivorship()
    data = record_data(session, [r for _key, recs, _over in jobs for r in recs])
    out = []
    for key, recs, overrides in jobs:
        idents: set[str] = set()
        for r in recs:
            idents |= identifier_set(data[r][2])
        out.append((key, survive((data[r] for r in recs), rules, overrides), idents))
    return out


def _compute_in_worker(url: str, jobs: list[Job]) -> list[Result]:
    store = _worker_store(url)
    with store.session() as s:
        return compute(s, jobs)


_stores: dict[str, Store] = {}


def _worker_store(url: str) -> Store:
    # One engine per worker process, kept for its later batches.
    if url not in _stores:
        _stores[url] = Store(url)
    return _stores[url]


def worker_threshold() -> int:
    """Runs recomputing more records than this use workers (``MDM_GOLDEN_WORKERS_AFTER``, default 50,000)."""
    return int(os.environ.get("MDM_GOLDEN_WORKERS_AFTER", "50000"))


class Survivors:
    """Results of ``batches`` (lists of jobs), in order; with workers, computed ahead of being asked.

    Make it, do other work, then iterate. Close it (or use it as a context
    manager) to stop the workers.
    """

    def __init__(self, session: Session, batches: Iterable[list[Job]], *, records: int,
                 workers: int = 2, in_flight: int = 4) -> None:
        self.session = session
        self.batches = iter(batches)
        self.pool: ProcessPoolExecutor | None = None
        self.running: deque[Future[list[Result]]] = deque()
        url = url_for_workers(session.get_bind().engine)
        if url is not None and workers > 0 and records > worker_threshold():
            self.url = url
            # Spawned, not forked: the parent holds database connections and an open transaction.
            self.pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            self.in_flight = in_flight
            self._fill()

    def _fill(self) -> None:
        assert self.pool is not None
        while len(self.running) < self.in_flight:
            batch = next(self.batches, None)
            if batch is None:
                return
            self.running.append(self.pool.submit(_compute_in_worker, self.url, batch))

    def __iter__(self) -> Iterator[list[Result]]:
        if self.pool is None:
            for batch in self.batches:
                yield compute(self.session, batch)
            return
        while self.running:
            results = self.running.popleft().result()
            self._fill()
            yield results

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def __enter__(self) -> "Survivors":
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.close()
