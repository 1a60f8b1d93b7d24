"""Golden-record lookups for source systems: by identifier, by id, history, changes.

Performance: the REST API calls this thousands of times a day with a target
p99 of 10 ms on a million golden records, so every function is a handful of
indexed queries (``identifier (type, value)`` -> ``source_record`` ->
``golden_link`` -> ``golden_record``) that select plain columns; no ORM object
graph is loaded (relationships are ``lazy="raise"`` anyway). A lookup by
identifier is one statement (:data:`_HIT_CTE` and what follows it), on
PostgreSQL also writing the request's access-log row; Python then applies the
rules below to its rows (:func:`assemble`).

Privacy rules applied here, whatever the client's scopes:

* a person under *turvakielto* never has address or contact details returned
  (``address``/``phone``/``email`` attributes and phone/email identifiers);
* HETU values (``hetu``, ``kela_card``, ``temporary_id`` identifiers and the
  ``hetu`` attribute) are masked unless the view may reveal them;
* links to and identifiers from health sources (connector ``fhir*``) need the
  ``health`` attribute group, and without it a person known only to health
  sources is not found at all (that they are a patient is health data);
* attributes not known here are never returned (fail closed).

HETU lookups: only a valid code finds anything. A valid, non-temporary code
finds ``hetu`` and ``kela_card`` identifiers (the Kela card is HETU evidence)
of quality ``valid``. A temporary code (individual number 900-999) finds only
identifiers of quality ``temporary`` with the same eleven characters (``hetu``,
``kela_card`` or ``temporary_id``): it is never matched against real codes.
The century sign is part of the value, so ``100190-999P`` and ``100190Y999P``
are different lookups.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timezone
from operator import itemgetter
from typing import Any, Iterable, Sequence

from sqlalchemy import TextClause, column, or_, select, text

from rules.hetu import mask
from rules.identifiers import normalise_identifier

from ..errors import MdmError
from ..store import models as m
from ..store.models.base import JsonType
from . import hot_sql
from .hot_sql import Db  # the UI's ORM session or the API's plain connection
from .access_log import PendingAccess
from .accounts import LOOKUP_TYPES, Scopes

HETU_TYPES = ("hetu", "kela_card", "temporary_id")
CONTACT_IDENTIFIERS = ("phone", "email")
ATTRIBUTE_GROUP = {
    "given_names": "identity", "calling_name": "identity", "family_name": "identity",
    "birth_date": "identity", "sex": "identity", "hetu": "identity", "deceased": "identity",
    "phone": "contact", "email": "contact", "address": "address",
}
TURVAKIELTO_HIDDEN = frozenset({"phone", "email", "address"})
MAX_REDIRECTS = 32
# History and change payloads are written by reconciliation and may carry
# values (an old address of a person under turvakielto); only these keys,
# which carry ids, statuses and attribute *names*, are passed on.
SAFE_DETAIL_KEYS = frozenset({
    "status", "previous_status", "redirect_to", "merged_into", "merged_from", "survivor",
    "changed_attributes", "attributes_changed", "reason", "link_kind",
})


class LookupError_(MdmError):
    """Base of the refusals below; the API turns each into one HTTP status."""


class InvalidLookup(LookupError_):
    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotPermitted(LookupError_):
    pass


class NotFound(LookupError_):
    pass


class Gone(LookupError_):
    pass


@dataclass(frozen=True)
class View:
    """What a caller may see of a golden record."""

    groups: frozenset[str]
    identifier_types: frozenset[str] | None  # None = every type
    reveal_hetu: bool = False

    @classmethod
    def from_scopes(cls, scopes: Scopes) -> View:
        return _view_of(cls, scopes)

    @property
    def health(self) -> bool:
        return "health" in self.groups


@functools.lru_cache(maxsize=1024)
def _view_of(cls: type[View], scopes: Scopes) -> View:
    # Every API request asks for its client's view; clients are few and their scopes immutable.
    return cls(scopes.attribute_groups, scopes.identifier_types, scopes.hetu)


@dataclass(frozen=True)
class LookupKey:
    type: str  # as asked
    value: str  # normalised (the access log digests this)
    search_types: tuple[str, ...]
    quality: str | None  # required identifier quality; None = anything but invalid
    source: str | None = None


def is_health_connector(connector: str | None) -> bool:
    return bool(connector) and connector.lower().startswith("fhir")  # type: ignore[union-attr]


def parse_lookup(type_: str, value: str, source: str | None = None) -> LookupKey:
    """Normalise a lookup exactly as matching normalises stored identifiers."""
    if type_ not in LOOKUP_TYPES:
        raise InvalidLookup("unknown lookup type", "type")
    if type_ == "source_record":
        if not source:
            raise InvalidLookup("a source_record lookup needs the source name", "source")
        sid = value.strip()
        if not sid:
            raise InvalidLookup("the value is empty", "value")
        return LookupKey(type_, sid, (), None, source)
    n = normalise_identifier(type_, value)
    if n.error is not None or n.value is None:
        # The message never echoes the value: it may be a HETU.
        raise InvalidLookup(f"the value is not a valid {type_} ({n.error})", "value")
    if type_ in ("hetu", "kela_card"):
        if n.quality == "temporary":
            return LookupKey(type_, n.value, HETU_TYPES, "temporary")
        return LookupKey(type_, n.value, ("hetu", "kela_card"), "valid")
    return LookupKey(type_, n.value, (type_,), None)


def find_golden_ids(s: Db, key: LookupKey, view: View) -> list[str]:
    """Golden ids linked to live source records holding the identifier."""
    if key.type == "source_record":
        row = s.execute(
            select(m.GoldenLink.golden_id, m.SourceSystem.connector)
            .select_from(m.SourceRecord)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
            .where(m.SourceSystem.name == key.source, m.SourceRecord.source_id == key.value,
                   m.SourceRecord.deleted_at.is_(None))
        ).first()
        if row is not None and is_health_connector(row.connector) and not view.health:
            raise NotPermitted("this client may not look up records of health sources")
        return [row.golden_id] if row else []
    q = (
        select(m.GoldenLink.golden_id, m.SourceSystem.connector)
        .select_from(m.Identifier)
        .join(m.SourceRecord, m.SourceRecord.id == m.Identifier.source_record_id)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
        .where(m.Identifier.type.in_(key.search_types), m.Identifier.value == key.value,
               m.SourceRecord.deleted_at.is_(None))
    )
    q = q.where(m.Identifier.quality == key.quality) if key.quality else q.where(m.Identifier.quality != "invalid")
    # An identifier known only to a health source is health data: without the
    # health group, it does not find the person (the answer would reveal it).
    return sorted({gid for gid, conn in s.execute(q) if view.health or not is_health_connector(conn)})


_GOLDEN_COLUMNS = (m.GoldenRecord.id, m.GoldenRecord.kind, m.GoldenRecord.status,
                   m.GoldenRecord.redirect_to, m.GoldenRecord.attributes)


def _follow(s: Db, golden_id: str) -> tuple[Any, str | None]:
    """The live record a golden id ends at (following merges) and the id it was redirected from."""
    seen: list[str] = []
    gid = golden_id
    while True:
        row = s.execute(select(*_GOLDEN_COLUMNS).where(m.GoldenRecord.id == gid)).first()
        if row is None:
            if seen:  # a redirect to nowhere is a broken merge, not an unknown id
                raise Gone("the golden record was merged into one that no longer exists")
            raise NotFound("no golden record with this id")
        if row.status == "retired":
            raise Gone("the golden record is retired")
        if row.status != "merged":
            return row, (golden_id if seen else None)
        seen.append(gid)
        if not row.redirect_to or row.redirect_to in seen or len(seen) > MAX_REDIRECTS:
            raise Gone("the golden record was merged and its redirect is broken")
        gid = row.redirect_to


def _value(entry: Any) -> Any:
    return entry.get("value") if isinstance(entry, dict) else None


def is_turvakielto(attributes: dict[str, Any] | None) -> bool:
    # Anything but an explicit false/absent counts: when in doubt, disclose less.
    return bool(_value((attributes or {}).get("turvakielto")))


def _visible_attributes(attributes: dict[str, Any], view: View, turvakielto: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, group in ATTRIBUTE_GROUP.items():
        if name not in attributes or group not in view.groups:
            continue
        if turvakielto and name in TURVAKIELTO_HIDDEN:
            continue
        value = _value(attributes[name])
        if name == "hetu" and value is not None and not view.reveal_hetu:
            value = mask(str(value))
        out[name] = value
    return out


def _identifier_visible(type_: str, health_source: bool, view: View, turvakielto: bool) -> bool:
    """HETU-type identifiers go with the identity group, phone/email with contact;
    every other type (cards, school ids, ...) only to clients that may look up by it."""
    if health_source and not view.health:
        return False
    if type_ in HETU_TYPES:
        return "identity" in view.groups
    if type_ in CONTACT_IDENTIFIERS:
        return "contact" in view.groups and not turvakielto
    return view.identifier_types is None or type_ in view.identifier_types


def _links_and_relations(s: Db, ids: list[str]) -> tuple[Sequence[Any], Sequence[Any]]:
    links = s.execute(
        select(m.GoldenLink.golden_id, m.SourceSystem.name.label("source"), m.SourceSystem.connector,
               m.SourceRecord.source_id, m.Identifier.type, m.Identifier.value, m.Identifier.status,
               m.Identifier.quality)
        .select_from(m.GoldenLink)
        .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .outerjoin(m.Identifier, m.Identifier.source_record_id == m.SourceRecord.id)
        .where(m.GoldenLink.golden_id.in_(ids), m.SourceRecord.deleted_at.is_(None))
    ).all()
    relations = s.execute(
        select(m.GoldenRelation.subject_golden_id, m.GoldenRelation.object_golden_id)
        .where(m.GoldenRelation.type == "guardian_of",
               or_(m.GoldenRelation.subject_golden_id.in_(ids), m.GoldenRelation.object_golden_id.in_(ids)))
    ).all()
    return links, relations


def build_records(s: Db, rows: Sequence[Any], view: View) -> list[dict[str, Any]]:
    """The visible part of golden records (rows of id, kind, status, redirect_to, attributes): three queries."""
    if not rows:
        return []
    links, relations = _links_and_relations(s, [r[0] for r in rows])
    return assemble(rows, links, relations, view)


_SOURCE_ORDER = itemgetter("source", "source_id")
_IDENTIFIER_ORDER = itemgetter("type", "source", "value")


def assemble(rows: Iterable[Any], links: Iterable[Any], relations: Iterable[Any],
             view: View) -> list[dict[str, Any]]:
    """Golden records as the API shows them to ``view``, from plain tuples.

    ``rows``: (id, kind, status, redirect_to, attributes) of live records, in
    answer order; ``links``: (golden_id, source, connector, source_id, type,
    value, status, quality) of their live source records, the identifier
    columns None for a record without identifiers; ``relations``: (guardian,
    child) pairs of ``guardian_of``. Links of other golden ids are ignored.
    """
    out: dict[str, dict[str, Any]] = {}
    secret: dict[str, bool] = {}
    for gid, kind, status, _redirect, attributes in rows:
        attributes = attributes or {}
        secret[gid] = tk = is_turvakielto(attributes)
        out[gid] = {
            "id": gid, "kind": kind, "status": status, "turvakielto": tk,
            "attributes": _visible_attributes(attributes, view, tk),
            "identifiers": [], "sources": [], "relations": {"guardians": [], "children": []},
        }
    # Read once: a lookup has a dozen link rows, each consulting the view.
    may_health, reveal_hetu = view.health, view.reveal_hetu
    health_of: dict[Any, bool] = {}  # connector -> is_health_connector (a handful of sources)
    seen_sources: set[tuple[str, str, str]] = set()
    linked: set[str] = set()
    outside_health: set[str] = set()
    for gid, source, connector, source_id, type_, value, id_status, quality in links:
        rec = out.get(gid)
        if rec is None:
            continue
        health = health_of.get(connector)
        if health is None:
            health = health_of[connector] = is_health_connector(connector)
        linked.add(gid)
        if health and not may_health:
            continue
        outside_health.add(gid)
        if (gid, source, source_id) not in seen_sources:
            seen_sources.add((gid, source, source_id))
            rec["sources"].append({"source": source, "source_id": source_id})
        if type_ is None or value is None:
            continue
        if not _identifier_visible(type_, health, view, secret[gid]):
            continue
        hide = type_ in HETU_TYPES and not reveal_hetu
        rec["identifiers"].append({
            "type": type_, "value": mask(value) if hide else value, "masked": hide,
            "source": source, "status": id_status, "quality": quality,
        })
    for guardian, child in relations:
        if guardian in out:
            out[guardian]["relations"]["children"].append(child)
        if child in out:
            out[child]["relations"]["guardians"].append(guardian)
    for rec in out.values():
        rec["sources"].sort(key=_SOURCE_ORDER)
        rec["identifiers"].sort(key=_IDENTIFIER_ORDER)
        for key, ids in rec["relations"].items():
            if ids:  # most people have none: [] stays []
                rec["relations"][key] = sorted(set(ids))
    # A person known only to health sources is health data: hidden without the health group.
    return [rec for gid, rec in out.items() if view.health or gid in outside_health or gid not in linked]


# The whole answer to a lookup by identifier in one statement (one round trip,
# one prepared plan): the golden ids holding the identifier ("h", with the
# connector for the health rule), their golden rows ("g"), their source
# records with identifiers ("l") and guardian relations ("r"). Python applies
# the privacy rules (assemble); rows of holders it filters out are dropped.
# Relations are two branches rather than one OR so both use their index.
# ``{types}`` and ``{quality}`` are filled from a fixed set (_lookup_statement);
# values are always bound parameters.
_HIT_CTE = """
WITH hit AS (
    SELECT gl.golden_id AS gid, ss.connector AS connector
    FROM identifier i
    JOIN source_record sr ON sr.id = i.source_record_id
    JOIN source_system ss ON ss.id = sr.source_system_id
    JOIN golden_link gl ON gl.source_record_id = sr.id
    WHERE i.type IN ({types}) AND i.value = :value AND {quality} AND sr.deleted_at IS NULL
)"""
_ANSWER = """
SELECT 'g' AS part, gr.id AS gid, gr.kind AS a, gr.status AS b, gr.redirect_to AS c, NULL AS d, NULL AS e,
       NULL AS f, NULL AS g, gr.attributes AS attributes
FROM golden_record gr WHERE gr.id IN (SELECT gid FROM hit)
UNION ALL
SELECT 'h', gid, connector, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM hit
UNION ALL
SELECT 'l', gl.golden_id, ss.name, ss.connector, sr.source_id, i.type, i.value, i.status, i.quality, NULL
FROM golden_link gl
JOIN source_record sr ON sr.id = gl.source_record_id
JOIN source_system ss ON ss.id = sr.source_system_id
LEFT JOIN identifier i ON i.source_record_id = sr.id
WHERE gl.golden_id IN (SELECT gid FROM hit) AND sr.deleted_at IS NULL
UNION ALL
SELECT 'r', subject_golden_id, object_golden_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM golden_relation WHERE type = 'guardian_of' AND subject_golden_id IN (SELECT gid FROM hit)
UNION ALL
SELECT 'r', subject_golden_id, object_golden_id, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM golden_relation WHERE type = 'guardian_of' AND object_golden_id IN (SELECT gid FROM hit)"""
# PostgreSQL: the same statement also writes the request's access-log row
# (a data-modifying CTE always runs to completion), so a lookup is one round
# trip in all. The row's golden ids are the holders the health rule lets
# through, in Python's sort order (COLLATE "C" is code point order), and its
# status 200, or 404 with none: exactly what the API answers unless a holder is
# retired or merged, or the answer fails - then the API corrects the row
# before answering (access_log.correct_access). Committed asynchronously like
# every API access-log row (see access_log.py).
_LOGGED_CTE = """,
logged AS (
    INSERT INTO access_log (client_name, username, endpoint, purpose, identifier_type, identifier_digest,
                            golden_ids, status_code, created_at)
    SELECT :client_name, :username, :endpoint, :purpose, :identifier_type, :identifier_digest,
           found.ids, CASE WHEN found.ids = CAST('[]' AS jsonb) THEN 404 ELSE 200 END, :created_at
    FROM (SELECT COALESCE(jsonb_agg(DISTINCT gid COLLATE "C" ORDER BY gid COLLATE "C"), CAST('[]' AS jsonb)) AS ids
          FROM hit WHERE :health OR lower(connector) NOT LIKE 'fhir%') AS found,
         (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
    RETURNING id, golden_ids
)"""
_LOGGED_ROW = """
UNION ALL
SELECT 'x', CAST(id AS VARCHAR), NULL, NULL, NULL, NULL, NULL, NULL, NULL, golden_ids FROM logged"""
_lookup_statements: dict[tuple[int, bool, bool], TextClause] = {}


def _lookup_statement(n_types: int, by_quality: bool, logged: bool) -> TextClause:
    """The statement for ``n_types`` identifier types; made once (SQLAlchemy and psycopg then cache it)."""
    stmt = _lookup_statements.get((n_types, by_quality, logged))
    if stmt is None:
        sql = _HIT_CTE.format(types=", ".join(f":t{n}" for n in range(n_types)),
                              quality="i.quality = :quality" if by_quality else "i.quality <> 'invalid'")
        sql = sql + _LOGGED_CTE + _ANSWER + _LOGGED_ROW if logged else sql + _ANSWER
        # Typed so that SQLite's JSON text is decoded as the ORM would.
        stmt = _lookup_statements[(n_types, by_quality, logged)] = text(sql).columns(
            column("part"), column("gid"), column("a"), column("b"), column("c"), column("d"), column("e"),
            column("f"), column("g"), column("attributes", JsonType))
    return stmt


def _live_records(s: Db, found: list[str], view: View) -> list[dict[str, Any]]:
    """Records of golden ids (sorted), merged ones answered by their survivor, retired ones left out."""
    rows: dict[str, Any] = {}
    if found:
        # One query for every holder (a shared phone has several).
        fetched = s.execute(select(*_GOLDEN_COLUMNS).where(m.GoldenRecord.id.in_(found))).all()
    else:
        fetched = []
    for row in sorted(fetched, key=lambda r: r.id):
        if row.status == "merged":
            # Links move on a merge, so this is not expected; if a
            # reconciliation is mid-way, answer with the survivor.
            try:
                row, _ = _follow(s, row.id)
            except (NotFound, Gone):
                continue
        elif row.status == "retired":
            continue
        rows.setdefault(row.id, row)
    return build_records(s, list(rows.values()), view)


def _by_identifier(s: Db, key: LookupKey, view: View, log: PendingAccess | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {f"t{n}": t for n, t in enumerate(key.search_types)}
    params["value"] = key.value
    if key.quality:
        params["quality"] = key.quality
    if log is not None and not hot_sql.on_postgresql(s):
        log = None  # the caller writes its row itself
    if log is not None:
        params.update(log.fields)
        params["health"] = view.health
    found: set[str] = set()
    golden_rows: dict[str, tuple[Any, ...]] = {}
    links: list[tuple[Any, ...]] = []
    relations: list[tuple[str, str]] = []
    for part, gid, a, b, c, d, e, f, g, attributes in hot_sql.rows(
            s, _lookup_statement(len(key.search_types), key.quality is not None, log is not None), params):
        if part == "l":
            links.append((gid, a, b, c, d, e, f, g))
        elif part == "g":
            golden_rows[gid] = (gid, a, b, c, attributes)
        elif part == "h":
            # An identifier known only to a health source is health data:
            # without the health group, it does not find the person.
            if view.health or not is_health_connector(a):
                found.add(gid)
        elif part == "r":
            relations.append((gid, a))
        elif log is not None:  # "x": the access-log row written
            log.row_id, log.golden_ids = int(gid), attributes
    holders = [golden_rows[gid] for gid in sorted(found) if gid in golden_rows]
    if any(row[2] == "merged" for row in holders):
        return _live_records(s, sorted(found), view)  # rare: follow the redirect, query by query
    return assemble([row for row in holders if row[2] != "retired"], links, relations, view)


def lookup(s: Db, key: LookupKey, view: View, *, log: PendingAccess | None = None) -> list[dict[str, Any]]:
    """Every live golden record holding the identifier; ``shared`` when more than one.

    With ``log``, the read statement may also write that access-log row (see
    _LOGGED_CTE); ``log.row_id`` then says it did.
    """
    if key.type == "source_record":
        records = _live_records(s, find_golden_ids(s, key, view), view)
    else:
        records = _by_identifier(s, key, view, log)
    for rec in records:
        rec["shared"] = len(records) > 1
    return records


def golden(s: Db, golden_id: str, view: View) -> dict[str, Any]:
    """One golden record; a merged id answers with the survivor (``redirected_from``)."""
    row, redirected_from = _follow(s, golden_id)
    found = build_records(s, [row], view)
    if not found:
        raise NotFound("no golden record with this id")
    rec = found[0]
    rec["shared"] = False
    rec["redirected_from"] = redirected_from
    return rec


def _utc(dt: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC (store/models/base.py).
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt


def safe_details(details: dict[str, Any] | None) -> dict[str, Any]:
    def ok(v: Any) -> bool:
        return v is None or isinstance(v, (bool, int, float)) or (isinstance(v, str) and len(v) <= 100)

    return {k: v for k, v in (details or {}).items() if k in SAFE_DETAIL_KEYS and (
        ok(v) or (isinstance(v, list) and all(ok(x) for x in v)))}


def _health_only(s: Db, golden_id: str) -> bool:
    connectors = s.scalars(
        select(m.SourceSystem.connector)
        .join(m.SourceRecord, m.SourceRecord.source_system_id == m.SourceSystem.id)
        .join(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
        .where(m.GoldenLink.golden_id == golden_id, m.SourceRecord.deleted_at.is_(None))
    ).all()
    return bool(connectors) and all(is_health_connector(c) for c in connectors)


def history(
    s: Db, golden_id: str, view: View, *, limit: int, before: int | None,
) -> tuple[list[dict[str, Any]], int | None]:
    """History rows of one golden id, newest first; keyset-paginated on the row id."""
    if s.scalar(select(m.GoldenRecord.id).where(m.GoldenRecord.id == golden_id)) is None or (
        not view.health and _health_only(s, golden_id)
    ):
        raise NotFound("no golden record with this id")
    gh = m.GoldenHistory
    q = select(gh.id, gh.event_type, gh.created_at, gh.run_id, gh.details).where(gh.golden_id == golden_id)
    if before is not None:
        q = q.where(gh.id < before)
    rows = s.execute(q.order_by(gh.id.desc()).limit(limit + 1)).all()
    page = rows[:limit]
    items: list[dict[str, Any]] = [
        {"id": h.id, "event_type": h.event_type, "created_at": _utc(h.created_at), "run_id": h.run_id,
         "details": safe_details(h.details)} for h in page]
    return items, (page[-1].id if len(rows) > limit else None)


def changes(s: Db, *, since: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Change events with ``cursor > since``, ascending; the next cursor to ask with."""
    ce = m.ChangeEvent
    rows = s.execute(
        select(ce.cursor, ce.golden_id, ce.event_type, ce.created_at, ce.payload)
        .where(ce.cursor > since).order_by(ce.cursor).limit(limit)
    ).all()
    items: list[dict[str, Any]] = [
        {"cursor": c.cursor, "golden_id": c.golden_id, "event_type": c.event_type,
         "created_at": _utc(c.created_at), "payload": safe_details(c.payload)} for c in rows]
    return items, (rows[-1].cursor if rows else since)
