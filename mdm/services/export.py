"""Exports of the golden records, the cross-reference and the identifiers, as CSV or Parquet.

Rows stream from the store (``yield_per``) into the file in batches, so an
export of a million golden records never holds them all in memory; the file
appears under its name only when complete (written beside it, then renamed).

Privacy (see docs: Finnish identifiers and privacy rules):

* HETU values (the ``hetu`` attribute and ``hetu``/``kela_card``/``temporary_id``
  identifiers) are masked (``131052-****``) unless the export reveals them,
  which needs an actor and a reason and writes an ``audit_event`` first;
* a person under *turvakielto* never has address or contact details exported
  (the address and phone/e-mail columns stay empty, their phone and e-mail
  identifiers are left out); the ``turvakielto`` column says why.
"""
from __future__ import annotations

import csv
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import Select, and_, distinct, func, select
from sqlalchemy.orm import Session

from rules.hetu import mask

from ..errors import MdmError
from ..store import Store
from ..store import models as m
from .events import MASKED_TYPES

KINDS = ("golden", "xref", "identifiers")
FORMATS = ("csv", "parquet")
BATCH = 5000
ADDRESS_FIELDS = ("street_name", "house_number", "staircase", "apartment", "postal_code", "city", "municipality")
CONTACT_IDENTIFIERS = ("phone", "email")

# (column, arrow type name) per export; the CSV has the same columns in the same order.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "golden": [("golden_id", "string"), ("status", "string"), ("given_names", "string"),
               ("calling_name", "string"), ("family_name", "string"), ("birth_date", "string"),
               ("sex", "string"), ("hetu", "string"), ("phone", "string"), ("email", "string"),
               ("address", "string"), *((f"address_{f}", "string") for f in ADDRESS_FIELDS),
               ("turvakielto", "bool_"), ("records", "int64"), ("sources", "string")],
    "xref": [("source", "string"), ("source_id", "string"), ("golden_id", "string"),
             ("link_kind", "string"), ("score", "float64")],
    "identifiers": [("golden_id", "string"), ("type", "string"), ("value", "string"), ("source", "string"),
                    ("source_id", "string"), ("quality", "string"), ("status", "string"),
                    ("valid_from", "date32"), ("valid_to", "date32"), ("shared", "bool_")],
}


class ExportError(MdmError):
    pass


@dataclass
class ExportResult:
    kind: str
    format: str
    path: Path
    rows: int
    hetu_revealed: bool


def _value(attributes: dict[str, Any] | None, name: str) -> Any:
    entry = (attributes or {}).get(name)
    return entry.get("value") if isinstance(entry, dict) else None


def _streamed(session: Session, stmt: Select[Any]) -> Iterator[Any]:
    # yield_per: a server-side cursor on PostgreSQL, batches of rows on SQLite.
    return iter(session.execute(stmt, execution_options={"yield_per": BATCH}))


def _current_links() -> Any:
    """Links of current (not deleted) records, with the source's configured name."""
    return (select(m.GoldenLink.golden_id, m.SourceRecord.id.label("record_id"), m.SourceSystem.name)
            .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .where(m.SourceRecord.deleted_at.is_(None)))


def golden_rows(session: Session, reveal_hetu: bool = False) -> Iterator[tuple[Any, ...]]:
    """One row per active golden record."""
    links = _current_links().subquery()
    if session.get_bind().dialect.name == "postgresql":
        sources = func.string_agg(distinct(links.c.name), ",")
    else:
        sources = func.group_concat(distinct(links.c.name))
    agg = (select(links.c.golden_id, func.count().label("records"), sources.label("sources"))
           .group_by(links.c.golden_id).subquery())
    stmt = (select(m.GoldenRecord.id, m.GoldenRecord.status, m.GoldenRecord.attributes, agg.c.records,
                   agg.c.sources)
            .outerjoin(agg, agg.c.golden_id == m.GoldenRecord.id)
            .where(m.GoldenRecord.status == "active").order_by(m.GoldenRecord.id))
    for gid, status, attrs, records, source_names in _streamed(session, stmt):
        protected = bool(_value(attrs, "turvakielto"))
        hetu = _value(attrs, "hetu")
        address = None if protected else _value(attrs, "address")
        address = address if isinstance(address, dict) else {}
        yield (gid, status, _value(attrs, "given_names"), _value(attrs, "calling_name"),
               _value(attrs, "family_name"), _value(attrs, "birth_date"), _value(attrs, "sex"),
               hetu if reveal_hetu or not hetu else mask(str(hetu)),
               None if protected else _value(attrs, "phone"), None if protected else _value(attrs, "email"),
               address.get("raw"), *(address.get(f) for f in ADDRESS_FIELDS),
               protected, int(records or 0), ",".join(sorted(set((source_names or "").split(",")) - {""})))


def xref_rows(session: Session) -> Iterator[tuple[Any, ...]]:
    """One row per current source record: which golden record it belongs to (none before matching)."""
    stmt = (select(m.SourceSystem.name, m.SourceRecord.source_id, m.GoldenLink.golden_id, m.GoldenLink.kind,
                   m.GoldenLink.score)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .outerjoin(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
            .where(m.SourceRecord.deleted_at.is_(None))
            .order_by(m.SourceSystem.name, m.SourceRecord.source_id))
    for row in _streamed(session, stmt):
        yield tuple(row)


def identifier_rows(session: Session, reveal_hetu: bool = False) -> Iterator[tuple[Any, ...]]:
    """One row per identifier of a current record of an active golden record.

    ``shared``: the same (type, value) is held by more than one active golden record.
    """
    held = (select(m.Identifier.type, m.Identifier.value)
            .join(m.SourceRecord, m.SourceRecord.id == m.Identifier.source_record_id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
            .join(m.GoldenRecord, m.GoldenRecord.id == m.GoldenLink.golden_id)
            .where(m.SourceRecord.deleted_at.is_(None), m.GoldenRecord.status == "active",
                   m.Identifier.value.is_not(None))
            .group_by(m.Identifier.type, m.Identifier.value)
            .having(func.count(distinct(m.GoldenLink.golden_id)) > 1)).subquery()
    stmt = (select(m.GoldenLink.golden_id, m.Identifier.type, m.Identifier.value, m.SourceSystem.name,
                   m.SourceRecord.source_id, m.Identifier.quality, m.Identifier.status, m.Identifier.valid_from,
                   m.Identifier.valid_to, held.c.type.is_not(None), m.GoldenRecord.attributes)
            .select_from(m.Identifier)
            .join(m.SourceRecord, m.SourceRecord.id == m.Identifier.source_record_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
            .join(m.GoldenRecord, m.GoldenRecord.id == m.GoldenLink.golden_id)
            .outerjoin(held, and_(held.c.type == m.Identifier.type, held.c.value == m.Identifier.value))
            .where(m.SourceRecord.deleted_at.is_(None), m.GoldenRecord.status == "active")
            .order_by(m.GoldenLink.golden_id, m.Identifier.type, m.Identifier.value, m.Identifier.id))
    for gid, kind, value, source, sid, quality, status, vfrom, vto, shared, attrs in _streamed(session, stmt):
        if kind in CONTACT_IDENTIFIERS and _value(attrs, "turvakielto"):
            continue
        if kind in MASKED_TYPES and value and not reveal_hetu:
            value = mask(value)
        yield (gid, kind, value, source, sid, quality, status, vfrom, vto, bool(shared))


ROWS: dict[str, Callable[..., Iterator[tuple[Any, ...]]]] = {
    "golden": golden_rows, "xref": lambda s, reveal: xref_rows(s), "identifiers": identifier_rows,
}


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value


def _write_csv(path: Path, columns: Sequence[str], rows: Iterator[tuple[Any, ...]]) -> int:
    n = 0
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_csv_cell(v) for v in row])
            n += 1
    return n


def _write_parquet(path: Path, columns: Sequence[tuple[str, str]], rows: Iterator[tuple[Any, ...]]) -> int:
    import pyarrow as pa  # imported here: the rest of the CLI does not pay for it
    import pyarrow.parquet as pq

    schema = pa.schema([(name, getattr(pa, kind)()) for name, kind in columns])
    n = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[tuple[Any, ...]] = []

        def flush() -> None:
            arrays = [pa.array([r[i] for r in batch], type=schema.field(i).type) for i in range(len(columns))]
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

        for row in rows:
            batch.append(row)
            n += 1
            if len(batch) >= BATCH:
                flush()
                batch = []
        if batch or n == 0:
            flush()
    return n


def export(store: Store, kind: str, fmt: str, out: Path, *, reveal_hetu: bool = False,
           actor: str | None = None, reason: str | None = None) -> ExportResult:
    """Write one export; revealing HETUs needs an actor and a reason and is audited first."""
    if kind not in KINDS:
        raise ExportError(f"unknown export {kind!r}; expected one of {', '.join(KINDS)}")
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; expected csv or parquet")
    if reveal_hetu and kind != "xref":
        if not actor or not actor.strip():
            raise ExportError("revealing HETUs needs --actor (who asks)")
        if not reason or not reason.strip():
            raise ExportError("revealing HETUs needs --reason (why)")
    out = Path(out)
    if not out.parent.exists():
        raise ExportError(f"the folder {out.parent} does not exist")
    revealed = reveal_hetu and kind != "xref"
    if revealed:
        # Logged before a single value is read, in its own transaction: a failed export was still a reveal.
        with store.session() as s:
            s.add(m.AuditEvent(actor=actor.strip(), action="reveal_hetu", target_type="export",  # type: ignore[union-attr]
                               target_id=kind, details={"reason": reason.strip(), "format": fmt,  # type: ignore[union-attr]
                                                        "path": str(out.resolve())}))
    columns = COLUMNS[kind]
    tmp = out.with_name(f".{out.name}.{os.getpid()}.part")
    try:
        with store.session() as s:
            rows = ROWS[kind](s, revealed)
            if fmt == "csv":
                n = _write_csv(tmp, [c for c, _t in columns], rows)
            else:
                n = _write_parquet(tmp, columns, rows)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(kind, fmt, out, n, revealed)
