"""Reading sources that are already stored on other cores, while the pull writes.

A nightly pull reads every row of every export to find the 1 % that changed.
That reading (parsing, a connector's checks, hashing each payload) was half of
a nightly run, one source after another on one core, while the writing was a
few seconds. So when sources already hold many records (``MDM_PULL_PREFETCH_AFTER``,
default 20,000 stored records), each such source is read by a spawned worker
process as soon as the pull starts (``MDM_PULL_READERS`` at a time, default the
number of cores, at most 4). A worker loads the source's stored payload hashes,
runs the connector with ``is_stored`` against them, and sends back what the
pull needs: every new, changed or rejected item in full, and for an unchanged
record its source id and the hash it was found equal to (:class:`CheckedStored`).
The pull then applies the sources in their configured order, each in its own
transaction, exactly as if it had read them itself; while it writes one source
the workers read the next.

Nothing here can make a pull wrong, only slower:

* the pull checks every "unchanged" verdict against the hashes it reads in its
  own transaction, and that the source was not pulled since the worker began
  (its last pull time and watermark); if either differs (a record stored by
  match-on-entry, an ``mdm pull`` meanwhile), :class:`StaleRead` makes it read
  that source again in process;
* a source with more than ``MDM_PULL_PREFETCH_MAX_CHANGED`` (default 50,000)
  new, changed or rejected items is not held in memory: the worker gives up and
  the pull streams it in process, as always;
* a worker that fails in any way, a connector error included, or a read-ahead
  that cannot start, makes the pull read that source in process, which then
  reports any failure as it always does;
* an in-memory database (no other process can open it) or a machine with one
  core reads everything in process.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import warnings
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from connectors import make_connector
from connectors.base import ConnectorWarning, StoredRecord
from mdm._typing import RejectedRow, SourceRecordIn

from ..store import Store
from ..store import models as m
from ..store.db import make_engine, url_for_workers
from .record_digest import raw_hash

log = logging.getLogger(__name__)


class StaleRead(Exception):
    """A worker's "unchanged" verdict no longer holds in the pull's transaction."""


@dataclass
class CheckedStored(StoredRecord):
    """A :class:`StoredRecord` found by a worker, with the stored hash it was found equal to.

    ``raw`` is None unless the worker saw the source id before (only a
    duplicate's payload is ever needed again: it is quarantined).
    """

    checked_hash: str = ""


@dataclass
class Prefetched:
    """One source as a worker read it: the connector's items in order, its watermark and warnings.

    ``items`` None: the worker gave up (too many changed records to hold). ``expect``: the
    source's (last pull time, watermark) when the read started, set by the pull's process; the
    read is used only if the source is still so in the pull's transaction.
    """

    items: list[SourceRecordIn | StoredRecord | RejectedRow] | None
    new_watermark: str | None
    warnings: list[str]
    expect: tuple[Any, str | None] | None = None

    # Sent from the worker by pickling. Most items are bare unchanged verdicts (CheckedStored
    # with only a source id and a hash); pickled as objects they cost the worker and the pull's
    # process (which unpickles on a thread, under the GIL, while it writes) several seconds a
    # night. They travel as two lists of strings; every other item as it is, with its position.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        items = state.pop("items")
        if items is not None:
            positions, others, sids, hashes = [], [], [], []
            for i, item in enumerate(items):
                if (type(item) is CheckedStored and item.raw is None and item.row_ref is None
                        and item.updated_at is None):
                    sids.append(item.source_id)
                    hashes.append(item.checked_hash)
                else:
                    positions.append(i)
                    others.append(item)
            state["_packed"] = (len(items), positions, others, sids, hashes)
        else:
            state["_packed"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        packed = state.pop("_packed")
        self.__dict__.update(state)
        if packed is None:
            self.items = None
            return
        n, positions, others, sids, hashes = packed
        bare = iter(zip(sids, hashes))
        special = dict(zip(positions, others))
        items: list[SourceRecordIn | StoredRecord | RejectedRow] = []
        for i in range(n):
            item = special.get(i)
            if item is None:
                sid, digest = next(bare)
                item = CheckedStored(sid, None, None, None, digest)
            items.append(item)
        self.items = items


def prefetch_threshold() -> int:
    return int(os.environ.get("MDM_PULL_PREFETCH_AFTER", "20000"))


def max_full_items() -> int:
    """Changed, new and rejected items a worker sends at most (``MDM_PULL_PREFETCH_MAX_CHANGED``)."""
    return int(os.environ.get("MDM_PULL_PREFETCH_MAX_CHANGED", "50000"))


def reader_count() -> int:
    configured = os.environ.get("MDM_PULL_READERS")
    if configured is not None:
        return max(0, int(configured))
    cores = os.cpu_count() or 1
    return 0 if cores < 2 else min(4, cores)


def read_source(url: str, source: dict[str, Any], base_dir: str, system_id: int,
                watermark: str | None, var_dir: str | None = None) -> Prefetched:
    """In the worker: the source's items, unchanged records checked against the stored hashes."""
    engine = make_engine(url, poolclass=NullPool)
    SR = m.SourceRecord
    try:
        with engine.connect() as conn:
            known: dict[str, str | None] = dict(conn.execute(
                select(SR.source_id, SR.raw_hash)
                .where(SR.source_system_id == system_id, SR.deleted_at.is_(None))).all())
    finally:
        engine.dispose()
    connector = make_connector(source["name"], source, Path(base_dir))

    def is_stored(source_id: str, raw: Any) -> bool:
        stored = known.get(source_id)
        return stored is not None and stored == raw_hash(raw)

    connector.is_stored = is_stored
    memo = connector.attach_line_memo(Path(var_dir), known.get, raw_hash) if var_dir is not None else None
    if connector.full_export:
        watermark = None
    items: list[SourceRecordIn | StoredRecord | RejectedRow] = []
    seen: set[str] = set()
    full_items, most = 0, max_full_items()
    with warnings.catch_warnings():
        # Collected in connector.warnings; the pull issues them again in its own process.
        warnings.simplefilter("ignore", ConnectorWarning)
        for item in connector.read(watermark):
            if isinstance(item, StoredRecord):
                sid = item.source_id
                if sid in seen:  # a duplicate (connectors drop them): the pull quarantines it whole
                    item = CheckedStored(sid, item.raw, item.row_ref, item.updated_at, known[sid] or "")
                else:  # all the pull needs of an unchanged record: which one, and what was compared
                    item = CheckedStored(sid, None, None, None, known[sid] or "")
            else:
                full_items += 1
                if full_items > most:
                    # Mostly changed (a new export format?): holding it all here and in the pull
                    # would take the memory that reading it as a stream does not.
                    return Prefetched(None, None, [])
            if not isinstance(item, RejectedRow):
                seen.add(item.source_id)
            items.append(item)
    if memo is not None:
        memo.save()
    return Prefetched(items, connector.new_watermark, list(connector.warnings))


class Prefetcher:
    """Workers reading the stored sources of one pull; :meth:`take` hands over one source's read."""

    def __init__(self, store: Store, sources: list[dict[str, Any]], base_dir: Path,
                 var_dir: Path | None = None) -> None:
        self.futures: dict[str, Future[Prefetched]] = {}
        self.expect: dict[str, tuple[Any, str | None]] = {}
        self.pool: ProcessPoolExecutor | None = None
        try:
            self._start(store, sources, base_dir, var_dir)
        except Exception as exc:  # noqa: BLE001 - reading ahead is an optimisation: never a reason to fail
            log.info("sources are read in process (%s starting the read-ahead)", exc.__class__.__name__)
            self.close()

    def _start(self, store: Store, sources: list[dict[str, Any]], base_dir: Path, var_dir: Path | None) -> None:
        readers, url = reader_count(), url_for_workers(store.engine)
        if readers == 0 or url is None or len(sources) < 2:
            return  # one source alone: nothing to do meanwhile
        SR, SS = m.SourceRecord, m.SourceSystem
        with store.session() as s:
            systems = {name: (sid, pulled, watermark) for sid, name, pulled, watermark in s.execute(
                select(SS.id, SS.name, SS.last_pulled_at, SS.watermark))}
            stored = dict(s.execute(select(SR.source_system_id, func.count()).where(SR.deleted_at.is_(None))
                                    .group_by(SR.source_system_id)).all())
        wanted = [src for src in sources if src["name"] in systems
                  and stored.get(systems[src["name"]][0], 0) >= prefetch_threshold()]
        if not wanted:
            return
        # Spawned, not forked: the parent holds database connections.
        self.pool = ProcessPoolExecutor(min(readers, len(wanted)), mp_context=multiprocessing.get_context("spawn"))
        for src in wanted:
            system_id, pulled, watermark = systems[src["name"]]
            self.expect[src["name"]] = (pulled, watermark)
            self.futures[src["name"]] = self.pool.submit(read_source, url, dict(src), str(base_dir), system_id,
                                                         watermark, str(var_dir) if var_dir else None)
        log.info("reading %d stored source(s) on %d worker process(es)", len(wanted), min(readers, len(wanted)))

    def take(self, name: str) -> Prefetched | None:
        """The worker's read of source ``name``, or None: read it in process."""
        future = self.futures.pop(name, None)
        if future is None:
            return None
        try:
            result = future.result()
        except Exception as exc:  # noqa: BLE001 - any failure: the pull reads the source itself
            log.info("source %r is read in process (its worker failed: %s)", name, exc.__class__.__name__)
            result = None
        if not self.futures:
            self.close()  # nothing left to read: the workers go now, not after the last source
        if result is None or result.items is None:
            return None
        result.expect = self.expect[name]
        return result

    def close(self) -> None:
        for future in self.futures.values():
            future.cancel()
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None
