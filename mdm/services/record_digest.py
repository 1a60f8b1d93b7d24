"""What a pull computes per record - hashes, standardised form, relations - and doing it on another core.

The hashes are stored (``source_record.raw_hash`` and ``content_hash``), so their
text must stay exactly ``json.dumps(..., sort_keys=True, ensure_ascii=False,
default=str)``.

A first pull of a large source standardises every record, which was a third of
its time; :class:`Standardiser` hands that work, in chunks and in order, to a
worker process while the pull's own process reads the export and writes the
store. Small pulls (a nightly one, tests) never start a process: the pool is
made only once a pull has more than ``threshold`` records to standardise.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import deque
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from datetime import datetime
from typing import Any, Callable, Iterator

from mdm._typing import SourceRecordIn
from rules import standardise_record

#: (standardised, relations, content hash, raw hash) of one record.
Digest = tuple[dict[str, Any], list[dict[str, Any]], str, str]


def _raw_text_slow(raw: Any) -> str:
    return json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)


def _raw_text_encoder() -> Callable[[Any], str]:
    """``_raw_text_slow`` without building a JSON encoder for every record (a pull hashes every record).

    The C encoder ``json.dumps`` itself uses, made once; no circular check (payloads
    come from parsed CSV or JSON). Falls back to ``json.dumps`` where there is no C
    encoder or it does not give the same text.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return _raw_text_slow
    try:
        encode = make(None, str, json.encoder.encode_basestring, None, ": ", ", ", True, False, True)

        def text(raw: Any) -> str:
            if isinstance(raw, (dict, list)):
                return "".join(encode(raw, 0))
            return _raw_text_slow(raw)

        sample = {"b": [1, 2.5, None, True, "ä\"\n"], "a": {"z": "x", "y": float("nan")},
                  "c": datetime(2026, 1, 1)}
        if text(sample) != _raw_text_slow(sample):
            return _raw_text_slow
        return text
    except Exception:  # noqa: BLE001 - any surprise: the plain way
        return _raw_text_slow


_raw_text = _raw_text_encoder()


def raw_hash(raw: Any) -> str:
    """Hash of the payload as the source sent it: equal means nothing to standardise again.

    MD5 of ``json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)``.
    """
    return hashlib.md5(_raw_text(raw).encode("utf-8")).hexdigest()


def content_hash(standardised: dict[str, Any], relations: list[dict[str, Any]]) -> str:
    """Hash of what matters for matching and mastering (not the source's own timestamps)."""
    body = {k: v for k, v in standardised.items() if k != "updated_at"}
    return hashlib.sha256(_raw_text({"s": body, "r": relations}).encode("utf-8")).hexdigest()


def relations_of(rec: SourceRecordIn) -> list[dict[str, Any]]:
    return sorted(
        (
            {"type": r.type, "subject": r.subject_source_id, "object": r.object_source_id, "label": r.label}
            for r in rec.relations
        ),
        key=lambda d: (d["type"], d["subject"], d["object"]),
    )


def digest(rec: SourceRecordIn, raw_digest: str | None = None) -> Digest:
    """What a pull stores for ``rec``; ``raw_digest``: its :func:`raw_hash` if already made."""
    std = standardise_record(rec)
    rels = relations_of(rec)
    return std, rels, content_hash(std, rels), raw_digest or raw_hash(rec.raw)


def _digest_chunk(records: list[tuple[SourceRecordIn, str | None]]) -> list[Digest]:
    return [digest(r, h) for r, h in records]


def pull_workers() -> int:
    """Worker processes for standardising: ``MDM_PULL_WORKERS``, else one core less than the
    machine's (at most two); ``MDM_PULL_POOL_AFTER`` records are standardised in process first."""
    configured = os.environ.get("MDM_PULL_WORKERS")
    if configured is not None:
        return max(0, int(configured))
    return max(0, min(2, (os.cpu_count() or 1) - 1))


class Standardiser:
    """Digests records in the order they are put, on a worker process once there are many.

    ``put(record, raw_digest)`` and ``drain()`` yield ``(record, digest)`` for the
    records done so far, in the order they were put (``raw_digest``: the
    record's raw hash when the caller made it already). A worker's exception
    comes out of the call that collects its chunk, as it would have from ``digest``.
    """

    def __init__(self, *, workers: int | None = None, threshold: int | None = None, chunk: int = 500,
                 in_flight: int = 6) -> None:
        self.workers = pull_workers() if workers is None else workers
        if threshold is None:
            threshold = int(os.environ.get("MDM_PULL_POOL_AFTER", "3000"))
        self.threshold, self.chunk, self.in_flight = threshold, chunk, in_flight
        self.seen = 0
        self.pool: ProcessPoolExecutor | None = None
        self.pending: list[tuple[SourceRecordIn, str | None]] = []
        self.running: deque[tuple[list[tuple[SourceRecordIn, str | None]], Future[list[Digest]]]] = deque()

    def put(self, record: SourceRecordIn, raw_digest: str | None) -> Iterator[tuple[SourceRecordIn, Digest]]:
        self.seen += 1
        if self.pool is None:
            if self.workers == 0 or self.seen <= self.threshold:
                yield record, digest(record, raw_digest)
                return
            # Spawned, not forked: the parent holds database connections and maybe threads.
            self.pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"))
        self.pending.append((record, raw_digest))
        if len(self.pending) >= self.chunk:
            self._submit()
        while len(self.running) > self.in_flight:
            yield from self._collect()

    def drain(self) -> Iterator[tuple[SourceRecordIn, Digest]]:
        if self.pending:
            self._submit()
        while self.running:
            yield from self._collect()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool = None

    def _submit(self) -> None:
        assert self.pool is not None
        items, self.pending = self.pending, []
        try:
            future = self.pool.submit(_digest_chunk, items)
        except BrokenExecutor:  # the worker died: go on in process
            future = Future()
            future.set_result(_digest_chunk(items))
        self.running.append((items, future))

    def _collect(self) -> Iterator[tuple[SourceRecordIn, Digest]]:
        items, future = self.running.popleft()
        try:
            results = future.result()
        except BrokenExecutor:  # the worker died (killed, out of memory): this chunk in process
            results = _digest_chunk(items)
        for (record, _raw_digest), result in zip(items, results):
            yield record, result
