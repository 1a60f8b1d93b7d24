"""Pulling sources into the store as versioned source records.

For each source: read what its connector yields, standardise, and store each
record as new, changed (content hash differs) or unchanged. Records missing
from a full export are marked deleted, never removed. Each source is pulled in
one transaction, so a refused or failing source changes nothing and the other
sources go on.

A nightly re-pull costs little more than reading the export: a record whose
payload is stored as it is gets neither mapped by its connector again
(``Connector.is_stored``) nor standardised, and the records of a full export
are not each stamped ``last_seen`` - the source's ``last_pulled_at`` says it
for all of them, so read a record's last sighting with :func:`last_seen_of`.
"""
from __future__ import annotations

import json
import logging
import time
import warnings
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable

from sqlalchemy import bindparam, case, delete, exists, insert, select, update
from sqlalchemy.orm import Session, aliased

from connectors import CONNECTORS, Connector, ConnectorError, ConnectorWarning, StoredRecord, make_connector
from connectors.line_memo import LineMemo
from mdm._typing import RejectedRow, SourceRecordIn
from rules import standardise_record

from ..config import Config
from ..errors import MdmError
from ..store import Store
from ..store import models as m
from .pull_prefetch import CheckedStored, Prefetched, Prefetcher, StaleRead
from .record_digest import Standardiser, content_hash, raw_hash, relations_of

log = logging.getLogger(__name__)

BATCH_SIZE = 2000
DEFAULT_MAX_DELETE_SHARE = 0.2


class PullRefused(MdmError):
    """A source's export looks wrong (empty, or would delete too much)."""


@dataclass
class SourcePullResult:
    source: str
    status: str = "ok"  # ok | refused | failed
    message: str | None = None
    read: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    deleted: int = 0
    undeleted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    watermark: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PullReport:
    sources: list[SourcePullResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SourcePullResult]:
        return [r for r in self.sources if r.status != "ok"]


def _lazy_last_seen(cls: type[Connector] | None) -> bool:
    """Whether every pull with this connector class is a full export (whatever the options)."""
    return cls is not None and bool(cls.full_export) and not cls.full_export_option


def seen_whole_at(system: m.SourceSystem) -> datetime | None:
    """When every record of ``system`` not marked deleted was last seen; None when that is not known.

    A pull of a source whose connector always delivers full exports does not write
    ``last_seen`` on each record that is still in the export (that rewrote every row
    of the source every night); the source's ``last_pulled_at`` (the time of its last
    pull, the same time stamped on what the pull wrote) says it for all of them. So a
    record's last sighting is :func:`last_seen_of` it, not its ``last_seen`` column alone.
    """
    if not _lazy_last_seen(CONNECTORS.get(system.connector or "")):
        return None
    return system.last_pulled_at


def last_seen_of(last_seen: datetime | None, deleted_at: datetime | None,
                 whole: datetime | None) -> datetime | None:
    """When a record was last seen in its source: ``whole`` is :func:`seen_whole_at` of the source."""
    if deleted_at is None and whole is not None and (last_seen is None or last_seen < whole):
        return whole
    return last_seen


def _identifier_rows(record_id: int, std: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for ident in std.get("identifiers", []):
        rows.append(
            {
                "source_record_id": record_id,
                "type": ident["type"],
                "value": ident.get("value"),
                "raw_value": (ident.get("raw") or "")[:320] or None,
                "quality": ident.get("quality", "valid"),
                "error": ident.get("error"),
                "status": ident.get("status", "active"),
                "valid_from": _as_date(ident.get("valid_from")),
                "valid_to": _as_date(ident.get("valid_to")),
            }
        )
    return rows


def _as_date(value: Any):  # type: ignore[no-untyped-def]
    if not value:
        return None
    return datetime.fromisoformat(str(value)).date() if isinstance(value, str) else value


class _SourcePull:
    """State of one source's pull inside its transaction."""

    def __init__(self, session: Session, system: m.SourceSystem, run_id: int | None,
                 result: SourcePullResult, connector: Connector, max_delete_share: float,
                 standardiser: Standardiser) -> None:
        self.s = session
        self.standardiser = standardiser
        self.memo: LineMemo | None = None
        self.system = system
        self.run_id = run_id
        self.result = result
        self.now = m.utcnow()
        self.full_export = connector.full_export
        self.max_delete_share = max_delete_share
        # A full export by kind: the records still in the export are seen as a whole (seen_whole_at).
        self.lazy = _lazy_last_seen(type(connector))
        # When the records not marked deleted were all last seen, as the last pull left it.
        self.prev_whole = seen_whole_at(system)
        SR = m.SourceRecord
        if self.prev_whole is not None and not self.lazy:
            # The source stops being pulled as a whole (another connector): write down on each
            # record what seen_whole_at said for all of them.
            session.execute(update(SR).where(SR.source_system_id == system.id, SR.deleted_at.is_(None),
                                             SR.last_seen < self.prev_whole)
                            .values(last_seen=self.prev_whole))
            self.prev_whole = None
        # source_id -> (record id, raw hash, deleted?); content hashes are read when needed.
        # On the session's connection (Core), not through the ORM: its per-row loading cost
        # more than the query for a source of a few hundred thousand records (same rows, same
        # transaction).
        self.existing: dict[str, tuple[int, str | None, bool]] = {
            sid: (rid, rh, bool(deleted))
            for rid, sid, rh, deleted in session.connection().execute(
                select(SR.id, SR.source_id, SR.raw_hash, SR.deleted_at.is_not(None))
                .where(SR.source_system_id == system.id))
        }
        self.prior_active = sum(1 for _rid, _rh, deleted in self.existing.values() if not deleted)
        self.seen_active = 0  # records of prior_active seen in this export
        self.seen: set[str] = set()
        self.batch: list[tuple[SourceRecordIn, dict[str, Any], list[dict[str, Any]], str, str]] = []
        self.raw_updates: list[dict[str, Any]] = []

    # -- per item ------------------------------------------------------------
    def is_stored(self, source_id: str, raw: Any) -> bool:
        """The connector's question: is this exact payload stored for the record (so it is unchanged)?"""
        known = self.existing.get(source_id)
        return known is not None and not known[2] and known[1] == raw_hash(raw)

    def stored_hash(self, source_id: str) -> str | None:
        """The raw hash of a live stored record (the line memo's question)."""
        known = self.existing.get(source_id)
        return known[1] if known is not None and not known[2] else None

    def add(self, item: SourceRecordIn | StoredRecord | RejectedRow) -> None:
        if isinstance(item, RejectedRow):
            self.quarantine(item.row_ref, item.reason, item.raw)
            return
        self.result.read += 1
        sid = item.source_id
        if sid in self.seen:
            # Connectors resolve duplicates themselves; this guards the store's invariant.
            self.result.duplicates += 1
            self.quarantine(item.row_ref or sid, f"duplicate source id {sid}",
                            json.dumps(item.raw, ensure_ascii=False, default=str))
            return
        self.seen.add(sid)
        if isinstance(item, StoredRecord):
            if isinstance(item, CheckedStored):
                # A worker's verdict, against the hashes it read: it must hold in this transaction too.
                known = self.existing.get(sid)
                if known is None or known[2] or known[1] != item.checked_hash:
                    raise StaleRead(sid)
            # is_stored said so just now (the record is not deleted and its payload hash is the stored one).
            self.seen_active += 1
            self.result.unchanged += 1
            return
        known = self.existing.get(sid)
        # A new record's raw hash is made with its standardisation, unless the line memo made it.
        digest_raw = self.memo.recent_hash(sid) if self.memo is not None else None
        if known is not None and not known[2]:
            self.seen_active += 1
            digest_raw = digest_raw or raw_hash(item.raw)
            if known[1] == digest_raw:
                # The same payload as stored: unchanged, and no need to standardise it again.
                self.result.unchanged += 1
                return
        for rec, (std, rels, digest, rec_raw_digest) in self.standardiser.put(item, digest_raw):
            self._queue(rec, std, rels, digest, rec_raw_digest)

    def _queue(self, rec: SourceRecordIn, std: dict[str, Any], rels: list[dict[str, Any]], digest: str,
               digest_raw: str) -> None:
        self.batch.append((rec, std, rels, digest, digest_raw))
        if len(self.batch) >= BATCH_SIZE:
            self.flush()

    def quarantine(self, row_ref: str, reason: str, raw: str | None) -> None:
        self.result.quarantined += 1
        self.s.add(m.QuarantinedRow(source_system_id=self.system.id, run_id=self.run_id,
                                    row_ref=row_ref[:300], reason=reason, raw=raw))

    # -- per batch -----------------------------------------------------------
    def flush(self) -> None:
        batch, self.batch = self.batch, []
        known_ids = [self.existing[e[0].source_id][0] for e in batch if e[0].source_id in self.existing]
        stored_hash: dict[int, str] = {}
        SR = m.SourceRecord
        for chunk in _chunks(known_ids, 1000):
            stored_hash.update(self.s.execute(select(SR.id, SR.content_hash).where(SR.id.in_(chunk))).all())
        new, changed = [], []
        for entry in batch:
            rec, _std, _rels, digest, _raw_digest = entry
            known = self.existing.get(rec.source_id)
            if known is None:
                new.append(entry)
            elif stored_hash[known[0]] != digest or known[2]:
                changed.append((known[0], known[2], entry))
            else:
                # Same content, new payload bytes (e.g. only the source's timestamp moved).
                self.raw_updates.append({"b_id": known[0], "raw": rec.raw, "raw_hash": entry[4],
                                         "source_updated_at": rec.updated_at})
                self.existing[rec.source_id] = (known[0], entry[4], False)
                self.result.unchanged += 1
        if new:
            self._insert_new(new)
        if changed:
            self._update_changed(changed)
        if self.raw_updates:
            table = SR.__table__
            self.s.execute(update(table).where(table.c.id == bindparam("b_id"))
                           .values(raw=bindparam("raw"), raw_hash=bindparam("raw_hash"),
                                   source_updated_at=bindparam("source_updated_at")), self.raw_updates)
            self.raw_updates = []

    def _record_values(self, rec: SourceRecordIn, std: dict[str, Any], digest: str,
                       digest_raw: str) -> dict[str, Any]:
        return {
            "kind": rec.kind,
            "standardised": std,
            "raw": rec.raw,
            "content_hash": digest,
            "raw_hash": digest_raw,
            "source_updated_at": rec.updated_at,
            "last_seen": self.now,
            "changed_run_id": self.run_id,
            "deleted_at": None,
        }

    def _insert_new(self, entries: list) -> None:  # type: ignore[type-arg]
        rows = [
            {"source_system_id": self.system.id, "source_id": rec.source_id, "first_seen": self.now,
             "version": 1, **self._record_values(rec, std, digest, digest_raw)}
            for rec, std, _rels, digest, digest_raw in entries
        ]
        # Core, not the ORM: the ORM's bulk insert with RETURNING goes row by row.
        table = m.SourceRecord.__table__
        ids = self.s.scalars(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        ).all()
        ident_rows: list[dict[str, Any]] = []
        rel_rows: list[dict[str, Any]] = []
        for rid, (rec, std, rels, _digest, digest_raw) in zip(ids, entries):
            self.existing[rec.source_id] = (rid, digest_raw, False)
            ident_rows.extend(_identifier_rows(rid, std))
            rel_rows.extend(self._relation_rows(rid, rels))
        self._bulk_insert(m.Identifier, ident_rows)
        self._bulk_insert(m.SourceRelation, rel_rows)
        self.result.new += len(entries)

    def _update_changed(self, entries: list) -> None:  # type: ignore[type-arg]
        ids = [rid for rid, _deleted, _entry in entries]
        old = {
            r.id: r
            for r in self.s.execute(
                select(m.SourceRecord.id, m.SourceRecord.version, m.SourceRecord.content_hash,
                       m.SourceRecord.standardised, m.SourceRecord.raw, m.SourceRecord.last_seen,
                       m.SourceRecord.first_seen).where(m.SourceRecord.id.in_(ids))
            )
        }
        versions, updates, ident_rows, rel_rows = [], [], [], []
        for rid, was_deleted, (rec, std, rels, digest, digest_raw) in entries:
            prev = old[rid]
            if prev.content_hash == digest and was_deleted:
                self.result.undeleted += 1
            else:
                self.result.changed += 1
            seen = prev.last_seen if was_deleted else last_seen_of(prev.last_seen, None, self.prev_whole)
            versions.append({"source_record_id": rid, "version": prev.version,
                             "content_hash": prev.content_hash, "standardised": prev.standardised,
                             "raw": prev.raw, "valid_from": seen or prev.first_seen,
                             "valid_to": self.now, "run_id": self.run_id})
            updates.append({"b_id": rid, "version": prev.version + 1,
                            **self._record_values(rec, std, digest, digest_raw)})
            ident_rows.extend(_identifier_rows(rid, std))
            rel_rows.extend(self._relation_rows(rid, rels))
            self.existing[rec.source_id] = (rid, digest_raw, False)
        self._bulk_insert(m.SourceRecordVersion, versions)
        table = m.SourceRecord.__table__
        self.s.execute(update(table).where(table.c.id == bindparam("b_id")).values(
            {k: bindparam(k) for k in updates[0] if k != "b_id"}), updates)
        self.s.execute(delete(m.Identifier).where(m.Identifier.source_record_id.in_(ids)))
        self.s.execute(delete(m.SourceRelation).where(m.SourceRelation.asserted_by_record_id.in_(ids)))
        self._bulk_insert(m.Identifier, ident_rows)
        self._bulk_insert(m.SourceRelation, rel_rows)

    def _relation_rows(self, rid: int, rels: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {"source_system_id": self.system.id, "type": r["type"], "subject_source_id": r["subject"],
             "object_source_id": r["object"], "label": r["label"], "asserted_by_record_id": rid}
            for r in rels
        ]

    def _bulk_insert(self, model: type, rows: list[dict[str, Any]]) -> None:
        if rows:
            self.s.execute(insert(model.__table__), rows)  # type: ignore[attr-defined]

    # -- end of the export ---------------------------------------------------
    def finish(self) -> None:
        for rec, (std, rels, digest, rec_raw_digest) in self.standardiser.drain():
            self._queue(rec, std, rels, digest, rec_raw_digest)
        self.flush()
        SR = m.SourceRecord
        if self.full_export:
            prior_active = self.prior_active
            n_missing = prior_active - self.seen_active
            if self.result.read == 0 and n_missing:
                raise PullRefused(
                    f"source {self.system.name!r}: the export is empty but {n_missing} records are "
                    "stored; refusing to mark them all deleted"
                )
            if prior_active and n_missing / prior_active > self.max_delete_share:
                raise PullRefused(
                    f"source {self.system.name!r}: the export would mark {n_missing} of "
                    f"{prior_active} records deleted ({n_missing / prior_active:.0%}, more than the "
                    f"allowed {self.max_delete_share:.0%}); nothing of this source was changed"
                )
            if n_missing:
                # Not seen now: every record that was active and is not in this export.
                missing = sorted(sid for sid, (_rid, _rh, deleted) in self.existing.items()
                                 if not deleted and sid not in self.seen)
                assert len(missing) == n_missing
                ids = [self.existing[sid][0] for sid in missing]
                values: dict[str, Any] = {"deleted_at": self.now, "changed_run_id": self.run_id}
                if self.prev_whole is not None:
                    # Its last sighting stays what seen_whole_at said (that stops covering it now).
                    values["last_seen"] = case((SR.last_seen < self.prev_whole, self.prev_whole),
                                               else_=SR.last_seen)
                for chunk in _chunks(ids, 5000):
                    self.s.execute(update(SR).where(SR.id.in_(chunk)).values(values))
                self.result.deleted = n_missing
            if not self.lazy:
                # Every record still in the export was seen now (a connector whose options make it
                # a full export: the source's kind alone does not say so, so each record carries it).
                self.s.execute(update(SR)
                               .where(SR.source_system_id == self.system.id, SR.deleted_at.is_(None))
                               .values(last_seen=self.now))
        self._resolve_relation_endpoints()

    def _resolve_relation_endpoints(self) -> None:
        """Point relations at the records their source ids name, once both exist.

        Only relations with an open endpoint that a record now fills are written
        (one naming a record that never arrives is not rewritten every night).
        """
        REL = m.SourceRelation
        for column, sid_column in ((REL.subject_record_id, REL.subject_source_id),
                                   (REL.object_record_id, REL.object_source_id)):
            target = aliased(m.SourceRecord)
            match = (target.source_system_id == self.system.id) & (target.source_id == sid_column)
            sub = select(target.id).where(match).scalar_subquery()
            self.s.execute(update(REL)
                           .where(REL.source_system_id == self.system.id, column.is_(None),
                                  exists().where(match))
                           .values({column.key: sub}))


def _chunks(items: list, size: int) -> Iterable[list]:  # type: ignore[type-arg]
    for i in range(0, len(items), size):
        yield items[i:i + size]


def pull_sources(store: Store, config: Config, sources: list[dict[str, Any]],
                 run_id: int | None = None) -> list[SourcePullResult]:
    """Pull the sources in order, those already stored read ahead by workers (see pull_prefetch)."""
    prefetcher = Prefetcher(store, sources, config.base_dir, config.var_dir)
    try:
        return [pull_source(store, config, src, run_id, prefetched=prefetcher.take(src["name"]))
                for src in sources]
    finally:
        prefetcher.close()


def pull_source(store: Store, config: Config, source: dict[str, Any], run_id: int | None = None,
                progress: Callable[[int], None] | None = None,
                prefetched: Prefetched | None = None) -> SourcePullResult:
    """Pull one source in one transaction; never raises for a source-level problem.

    ``prefetched``: the source as a worker read it (:mod:`pull_prefetch`), used
    instead of reading it here unless the store changed in between.
    """
    result = SourcePullResult(source=source["name"])
    started = time.monotonic()
    max_share = float(source.get("max_delete_share",
                                 config.pull.get("max_delete_share", DEFAULT_MAX_DELETE_SHARE)))
    try:
        with store.session() as s:
            system = s.scalars(select(m.SourceSystem).where(m.SourceSystem.name == source["name"])).first()
            if system is None:
                system = m.SourceSystem(name=source["name"], connector=source["connector"],
                                        purpose=source.get("purpose"))
                s.add(system)
                s.flush()
            connector = make_connector(source["name"], source, config.base_dir)
            watermark = None if connector.full_export else system.watermark
            if prefetched is not None:
                if (system.last_pulled_at, system.watermark) != prefetched.expect:
                    raise StaleRead(source["name"])  # pulled by someone else since the worker began
                for text in prefetched.warnings:  # when a read in process would have issued them
                    warnings.warn(text, ConnectorWarning, stacklevel=2)
            standardiser = Standardiser()
            try:
                state = _SourcePull(s, system, run_id, result, connector, max_share, standardiser)
                # Records stored with the same payload need not be mapped again by the connector,
                # nor lines that made such records last time be parsed again (line_memo.py).
                connector.is_stored = state.is_stored
                if prefetched is None or prefetched.items is None:
                    state.memo = connector.attach_line_memo(config.var_dir, state.stored_hash, raw_hash)
                    items = connector.read(watermark)
                else:
                    items = prefetched.items
                for n, item in enumerate(items, 1):
                    state.add(item)
                    if progress and n % 1000 == 0:
                        progress(1000)
                if state.memo is not None:
                    state.memo.save()  # the read is complete (a memo is valid whatever the pull's fate)
                    log.debug("source %r: %d unchanged lines not parsed", source["name"], state.memo.hits)
                state.finish()
            finally:
                standardiser.close()
            if prefetched is not None:
                connector.new_watermark = prefetched.new_watermark
            if connector.new_watermark:
                system.watermark = connector.new_watermark
            system.connector = source["connector"]
            # The pull's own time, the one its records carry (seen_whole_at relies on it).
            system.last_pulled_at = state.now
            result.watermark = system.watermark
    except StaleRead:
        # The store changed after the worker read it (nothing of this source was written): read it here.
        log.info("source %r changed while read ahead; reading it again", source["name"])
        return pull_source(store, config, source, run_id, progress)
    except PullRefused as exc:
        result.status, result.message = "refused", str(exc)
        _zero_counts(result)
    except (ConnectorError, MdmError, OSError) as exc:
        result.status, result.message = "failed", f"source {source['name']!r}: {exc}"
        _zero_counts(result)
    result.seconds = round(time.monotonic() - started, 3)
    if result.status == "ok":
        log.info("pulled %s: %d read, %d new, %d changed, %d unchanged, %d deleted, %d quarantined",
                 result.source, result.read, result.new, result.changed, result.unchanged,
                 result.deleted, result.quarantined)
    else:
        log.warning("%s", result.message)
    return result


def _zero_counts(result: SourcePullResult) -> None:
    # The transaction rolled back: report that nothing of the source changed.
    for name in ("new", "changed", "unchanged", "deleted", "undeleted", "quarantined", "duplicates"):
        setattr(result, name, 0)


def pull(store: Store, config: Config, only: str | None = None, run_id: int | None = None) -> PullReport:
    sources = [config.source(only)] if only else config.sources
    if not sources:
        raise MdmError("the configuration has no [[sources]] to pull")
    own_run = run_id is None
    if own_run:
        # A run row of its own, so the records it changes are known as changed by it.
        with store.session() as s:
            run = m.ReconciliationRun(kind="pull", status="running")
            s.add(run)
            s.flush()
            run_id = run.id
    report = PullReport(pull_sources(store, config, sources, run_id))
    if own_run:
        with store.session() as s:
            s.execute(update(m.ReconciliationRun).where(m.ReconciliationRun.id == run_id).values(
                status="succeeded" if not report.failed else "failed", finished_at=m.utcnow(),
                report={"sources": [r.as_dict() for r in report.sources]}))
    return report


def upsert_record(session: Session, system: m.SourceSystem, rec: SourceRecordIn, *,
                  std: dict[str, Any] | None = None, run_id: int | None = None) -> tuple[int, str]:
    """Store one record of ``system`` the way a pull stores it; returns (record id, status).

    For match-on-entry (``POST /api/v1/resolve`` with ``persist``): the same
    standardisation, content hash, versions, identifier and relation rows as a
    pull, for one record and without reading the rest of the source. Status is
    ``new``, ``changed``, ``undeleted`` or ``unchanged`` (then nothing but
    ``last_seen`` is written). Relations naming this record by its source id
    get its record id, and its own relations get the ids of records already
    stored. ``std`` passes a standardisation already made for this record.
    """
    std = std if std is not None else standardise_record(rec)
    rels = relations_of(rec)
    digest = content_hash(std, rels)
    now = m.utcnow()
    SR = m.SourceRecord
    prev = session.execute(
        select(SR.id, SR.version, SR.content_hash, SR.standardised, SR.raw, SR.last_seen, SR.first_seen,
               SR.deleted_at).where(SR.source_system_id == system.id, SR.source_id == rec.source_id)
    ).first()
    values = {"kind": rec.kind, "standardised": std, "raw": rec.raw, "content_hash": digest,
              "source_updated_at": rec.updated_at, "last_seen": now, "changed_run_id": run_id,
              "deleted_at": None}
    if prev is not None and prev.content_hash == digest and prev.deleted_at is None:
        session.execute(update(SR).where(SR.id == prev.id).values(last_seen=now))
        return int(prev.id), "unchanged"
    if prev is None:
        rid = int(session.scalars(insert(SR).returning(SR.id), [{
            "source_system_id": system.id, "source_id": rec.source_id, "first_seen": now, "version": 1,
            **values}]).one())
        status = "new"
    else:
        rid = int(prev.id)
        status = "undeleted" if prev.content_hash == digest else "changed"
        seen = last_seen_of(prev.last_seen, prev.deleted_at, seen_whole_at(system))
        session.execute(insert(m.SourceRecordVersion), [{
            "source_record_id": rid, "version": prev.version, "content_hash": prev.content_hash,
            "standardised": prev.standardised, "raw": prev.raw,
            "valid_from": seen or prev.first_seen, "valid_to": now, "run_id": run_id}])
        session.execute(update(SR).where(SR.id == rid).values(version=prev.version + 1, **values))
        session.execute(delete(m.Identifier).where(m.Identifier.source_record_id == rid))
        session.execute(delete(m.SourceRelation).where(m.SourceRelation.asserted_by_record_id == rid))
    ident_rows = _identifier_rows(rid, std)
    if ident_rows:
        session.execute(insert(m.Identifier), ident_rows)
    rel_rows = [{"source_system_id": system.id, "type": r["type"], "subject_source_id": r["subject"],
                 "object_source_id": r["object"], "label": r["label"], "asserted_by_record_id": rid}
                for r in rels]
    if rel_rows:
        session.execute(insert(m.SourceRelation), rel_rows)
    REL = m.SourceRelation
    for column, sid_column in ((REL.subject_record_id, REL.subject_source_id),
                               (REL.object_record_id, REL.object_source_id)):
        # Relations (of any record of the source) that name this record.
        session.execute(update(REL).where(REL.source_system_id == system.id, sid_column == rec.source_id,
                                          column.is_(None)).values({column.key: rid}))
        # This record's own relations, towards records already stored.
        target = aliased(SR)
        sub = (select(target.id).where(target.source_system_id == system.id, target.source_id == sid_column)
               .scalar_subquery())
        session.execute(update(REL).where(REL.asserted_by_record_id == rid, column.is_(None))
                        .values({column.key: sub}))
    return rid, status
