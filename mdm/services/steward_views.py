"""Read-only queries behind the steward UI: plain dicts ready to render.

Nothing here writes (the writes are :mod:`mdm.services.stewardship`). Every
value that leaves this module is safe to show to any logged-in user: HETU-type
identifiers and the ``hetu`` attribute are masked (``131052-****``, rules.hetu),
and free text written by others (history details, audit details, comments) can
be passed through :func:`mask_text`. The only way to see a HETU in clear is
``stewardship.reveal_hetu``, which is role-checked and logged.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from rules.hetu import mask

from ..store import models as m
from . import lookup
from .accounts import Scopes

HETU_TYPES = frozenset(lookup.HETU_TYPES)
# A HETU in free text (any case); the century sign is required, so that
# ten-digit card numbers are not mistaken for one.
HETU_IN_TEXT = re.compile(r"(?<![0-9A-Za-z])\d{6}[-+A-Ya-y]\d{3}[0-9A-Ya-y](?![0-9A-Za-z])")
# What a search box must refuse: broader (sign optional, spaces), as in
# stewardship_ui.security.HETU_IN_TEXT; a false positive only asks for the POST form.
HETU_LIKE = re.compile(r"\d{6}\s*[-+A-Za-z]?\s*\d{3}[0-9A-Za-z]")
SORTS = {
    "score_desc": (m.ReviewTask.score.desc(), m.ReviewTask.id),
    "score_asc": (m.ReviewTask.score.asc(), m.ReviewTask.id),
    "oldest": (m.ReviewTask.created_at.asc(), m.ReviewTask.id),
    "newest": (m.ReviewTask.created_at.desc(), m.ReviewTask.id.desc()),
}
FIELDS = ("Given names", "Calling name", "Family name", "Birth date", "Sex", "HETU", "Phone", "Email",
          "Address", "Other identifiers", "Flags")
SEARCH_LIMIT = 50
# Turvakielto: address and contact details are not for ordinary users (viewers).
CONTACT = frozenset({"phone", "email", "address"})
HIDDEN = "(hidden: turvakielto)"


def mask_text(value: Any) -> str:
    """``str(value)`` with every HETU-shaped token masked (free text may quote one)."""
    return HETU_IN_TEXT.sub(lambda mt: mask(mt.group(0).upper()), str(value))


def detail_text(value: Any) -> str:
    """A history or audit detail as short text (masked): lists joined, small dicts as their values."""
    if isinstance(value, dict):
        value = " ".join(str(v) for v in value.values() if v not in (None, ""))
    elif isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return mask_text(value)


def shown(type_: str, value: str | None) -> str:
    """An identifier value as it may be shown: masked for HETU-type identifiers."""
    return (mask(value) if type_ in HETU_TYPES else value) if value else ""


def looks_like_hetu(text: str) -> bool:
    return bool(HETU_LIKE.search(text or ""))


@dataclass
class Page:
    items: list[dict[str, Any]]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _page(s: Session, query: Select[Any], page: int, per_page: int) -> tuple[list[Any], int, int]:
    total = int(s.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    page = max(1, min(page, max(1, -(-total // per_page))))
    return s.execute(query.limit(per_page).offset((page - 1) * per_page)).all(), total, page


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value


# -- source records ------------------------------------------------------------------

def _name(std: dict[str, Any]) -> dict[str, Any]:
    names = std.get("names") or [{}]
    return next((n for n in names if n.get("use") == "official"), names[0])


def _address(addr: dict[str, Any] | None) -> str:
    if not addr:
        return ""
    town = " ".join(p for p in (addr.get("postal_code"), addr.get("city")) if p)
    return ", ".join(p for p in (addr.get("raw"), town) if p)


def _record_fields(std: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Field label -> (value to compare, value to show). Shown HETUs are masked."""
    name = _name(std)
    idents = [i for i in std.get("identifiers") or () if i.get("value")]

    def of(types: Iterable[str]) -> list[dict[str, Any]]:
        return [i for i in idents if i.get("type") in types]

    hetus = sorted({i["value"] for i in of(HETU_TYPES)})
    others = sorted(f"{i['type']} {i['value']}" for i in idents
                    if i["type"] not in HETU_TYPES and i["type"] not in ("phone", "email"))
    homes = [a for a in std.get("addresses") or () if a.get("use", "home") == "home"] or std.get("addresses") or []
    plain = {
        "Given names": name.get("given") or "", "Calling name": name.get("calling") or "",
        "Family name": name.get("family") or "", "Birth date": std.get("birth_date") or "",
        "Sex": std.get("sex") or "", "Phone": ", ".join(sorted({i["value"] for i in of(["phone"])})),
        "Email": ", ".join(sorted({i["value"] for i in of(["email"])})),
        "Address": _address(homes[0] if homes else None), "Other identifiers": ", ".join(others),
        "Flags": ", ".join(sorted(std.get("flags") or ())),
    }
    out = {k: (v, v) for k, v in plain.items()}
    out["HETU"] = (", ".join(hetus), ", ".join(mask(h) for h in hetus))
    return out


def display_name(std_or_attrs: dict[str, Any], *, golden: bool = False) -> str:
    if golden:
        a = {k: (v or {}).get("value") for k, v in (std_or_attrs or {}).items() if isinstance(v, dict)}
        given = a.get("calling_name") or a.get("given_names")
        family = a.get("family_name")
    else:
        n = _name(std_or_attrs or {})
        given, family = n.get("calling") or n.get("given"), n.get("family")
    return " ".join(str(p) for p in (given, family) if p) or "(no name)"


def _hide_contact(fields: dict[str, tuple[str, str]]) -> None:
    for label in ("Phone", "Email", "Address"):
        if fields[label][0]:
            fields[label] = (fields[label][0], HIDDEN)  # still compared, never shown


def records(s: Session, record_ids: Iterable[int], *, protect: bool = False) -> dict[int, dict[str, Any]]:
    """Record id -> source, source id, golden link, display name and fields (masked).

    ``protect``: hide the contact details of records flagged turvakielto.
    """
    ids = sorted(set(record_ids))
    if not ids:
        return {}
    rows = s.execute(
        select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.source_id, m.SourceRecord.standardised,
               m.SourceRecord.deleted_at, m.SourceRecord.source_updated_at, m.GoldenLink.golden_id,
               m.GoldenLink.kind, m.GoldenLink.score, m.GoldenLink.since)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .outerjoin(m.GoldenLink, m.GoldenLink.source_record_id == m.SourceRecord.id)
        .where(m.SourceRecord.id.in_(ids))).all()
    out = {r.id: {
        "id": r.id, "source": r.name, "source_id": r.source_id, "deleted": r.deleted_at is not None,
        "updated_at": _utc(r.source_updated_at), "golden_id": r.golden_id, "link_kind": r.kind,
        "score": r.score, "since": _utc(r.since), "name": display_name(r.standardised),
        "fields": _record_fields(r.standardised or {}),
    } for r in rows}
    for r in rows:
        if protect and "turvakielto" in ((r.standardised or {}).get("flags") or ()):
            _hide_contact(out[r.id]["fields"])
    return out


def compare(left: dict[str, Any], right: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of a side-by-side view; ``state`` is same / differs / one-sided / empty.

    Differences are decided on the real values, so two HETUs that differ only in
    the masked part are still marked as differing.
    """
    out = []
    for label in FIELDS:
        (lv, ls), (rv, rs) = left["fields"][label], right["fields"][label]
        state = "empty" if not lv and not rv else "one-sided" if not lv or not rv else (
            "same" if lv.casefold() == rv.casefold() else "differs")
        out.append({"label": label, "left": ls, "right": rs, "state": state})
    return out


# -- review queue ---------------------------------------------------------------------

def source_names(s: Session) -> list[str]:
    return list(s.scalars(select(m.SourceSystem.name).order_by(m.SourceSystem.name)))


def review_queue(s: Session, *, status: str = "open", source: str | None = None, min_score: float | None = None,
                 max_score: float | None = None, sort: str = "score_desc", page: int = 1,
                 per_page: int = 25) -> Page:
    """Review tasks with both records' sources and names, filtered, sorted and paginated."""
    lrec, rrec = aliased(m.SourceRecord), aliased(m.SourceRecord)
    lsrc, rsrc = aliased(m.SourceSystem), aliased(m.SourceSystem)
    q = (select(m.ReviewTask, lsrc.name.label("left_source"), rsrc.name.label("right_source"))
         .join(lrec, lrec.id == m.ReviewTask.left_record_id).join(lsrc, lsrc.id == lrec.source_system_id)
         .join(rrec, rrec.id == m.ReviewTask.right_record_id).join(rsrc, rsrc.id == rrec.source_system_id)
         .where(m.ReviewTask.status == status))
    if source:
        q = q.where(or_(lsrc.name == source, rsrc.name == source))
    if min_score is not None:
        q = q.where(m.ReviewTask.score >= min_score)
    if max_score is not None:
        q = q.where(m.ReviewTask.score <= max_score)
    rows, total, page = _page(s, q.order_by(*SORTS.get(sort, SORTS["score_desc"])), page, per_page)
    recs = records(s, [r.ReviewTask.left_record_id for r in rows] + [r.ReviewTask.right_record_id for r in rows])
    now = m.utcnow()
    items = []
    for r in rows:
        t, created = r.ReviewTask, _utc(r.ReviewTask.created_at)
        items.append({
            "id": t.id, "score": t.score, "match_weight": t.match_weight, "band": t.band, "reason": t.reason,
            "created_at": created, "age_days": (now - created).days if created else None,
            "sources": (r.left_source, r.right_source),
            "names": (recs[t.left_record_id]["name"], recs[t.right_record_id]["name"]),
        })
    return Page(items, total, page, per_page)


def task_detail(s: Session, task_id: int, *, protect: bool = False) -> dict[str, Any] | None:
    task = s.get(m.ReviewTask, task_id)
    if task is None:
        return None
    recs = records(s, [task.left_record_id, task.right_record_id], protect=protect)
    left, right = recs[task.left_record_id], recs[task.right_record_id]
    next_id = s.scalar(select(m.ReviewTask.id).where(m.ReviewTask.status == "open", m.ReviewTask.id != task_id)
                       .order_by(m.ReviewTask.score.desc(), m.ReviewTask.id).limit(1))
    return {"task": task, "left": left, "right": right, "rows": compare(left, right),
            "comment": mask_text(task.comment) if task.comment else None, "next_id": next_id}


# -- golden records -------------------------------------------------------------------

def _short(source_id: str) -> str:
    return source_id if len(source_id) <= 14 else source_id[:8] + "…"


def _shown_attribute(name: str, value: Any) -> Any:
    return mask(str(value)) if name == "hetu" and value else value


def golden_summaries(s: Session, golden_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = sorted(set(golden_ids))
    if not ids:
        return []
    counts = dict(s.execute(select(m.GoldenLink.golden_id, func.count()).where(m.GoldenLink.golden_id.in_(ids))
                            .group_by(m.GoldenLink.golden_id)).all())
    out = []
    for gid, status, attrs in s.execute(select(m.GoldenRecord.id, m.GoldenRecord.status, m.GoldenRecord.attributes)
                                        .where(m.GoldenRecord.id.in_(ids)).order_by(m.GoldenRecord.id)):
        value = {k: (v or {}).get("value") for k, v in (attrs or {}).items() if isinstance(v, dict)}
        out.append({"id": gid, "status": status, "name": display_name(attrs, golden=True),
                    "birth_date": value.get("birth_date"), "hetu": _shown_attribute("hetu", value.get("hetu")),
                    "records": counts.get(gid, 0)})
    return out


def _contact_event(details: dict[str, Any]) -> bool:
    ident = details.get("identifier")
    return details.get("attribute") in CONTACT or (isinstance(ident, dict) and ident.get("type") in CONTACT)


def golden_detail(s: Session, golden_id: str, *, protect: bool = False,
                  history_limit: int = 200) -> dict[str, Any] | None:
    """Everything the golden page shows: surviving values with provenance, records,
    identifiers, relations, overrides and history; HETUs masked. ``protect``: a
    person under turvakielto has no address or contact details shown at all."""
    g = s.get(m.GoldenRecord, golden_id)
    if g is None:
        return None
    secret = protect and lookup.is_turvakielto(g.attributes)

    def value(name: str, v: Any) -> Any:
        return HIDDEN if secret and name in CONTACT and v not in (None, "") else _shown_attribute(name, v)

    links = s.execute(select(m.GoldenLink.source_record_id).where(m.GoldenLink.golden_id == golden_id)).scalars()
    recs = sorted(records(s, links, protect=protect).values(), key=lambda r: (r["deleted"], r["source"], r["source_id"]))
    for rec in recs if secret else ():
        _hide_contact(rec["fields"])
    # Short references for the narrow tables (UUIDs are long); the records table has the full ids.
    ref = {r["id"]: f"{r['source']} {_short(r['source_id'])}" for r in recs}
    attributes = [{
        "name": name, "value": value(name, (entry or {}).get("value")),
        "source": (entry or {}).get("source"), "rule": (entry or {}).get("rule"),
        "record": ref.get((entry or {}).get("source_record_id"), (entry or {}).get("source_record_id")),
    } for name, entry in (g.attributes or {}).items()]
    current = [r["id"] for r in recs if not r["deleted"]]
    # One row per identifier value, with every record holding it (grouped on the real
    # value: two HETUs that look alike masked stay two rows).
    identifiers: list[dict[str, Any]] = []
    for i in s.scalars(select(m.Identifier).where(m.Identifier.source_record_id.in_(current))
                       .order_by(m.Identifier.type, m.Identifier.value, m.Identifier.source_record_id)):
        if secret and i.type in CONTACT:
            continue
        last = identifiers[-1] if identifiers else None
        if last and (last["key"], last["quality"], last["status"]) == ((i.type, i.value), i.quality, i.status):
            last["records"].append(ref[i.source_record_id])
            continue
        identifiers.append({"key": (i.type, i.value), "type": i.type, "value": shown(i.type, i.value) or "(unreadable)",
                            "quality": i.quality, "status": i.status, "records": [ref[i.source_record_id]]})
    overrides = [{"id": o.id, "attribute": o.attribute, "value": value(o.attribute, o.value),
                  "reason": mask_text(o.reason or ""), "actor": o.actor, "created_at": _utc(o.created_at)}
                 for o in s.scalars(select(m.AttributeOverride).where(
                     m.AttributeOverride.golden_id == golden_id, m.AttributeOverride.removed_at.is_(None))
                     .order_by(m.AttributeOverride.attribute))]
    rel_rows = s.execute(select(m.GoldenRelation).where(or_(
        m.GoldenRelation.subject_golden_id == golden_id, m.GoldenRelation.object_golden_id == golden_id))).scalars()
    relations: list[dict[str, Any]] = []
    for rel in rel_rows:
        mine = rel.subject_golden_id == golden_id
        role = ("guardian of" if mine else "child of") if rel.type == "guardian_of" else (
            rel.type if mine else f"{rel.type} (object)")
        relations.append({"role": role, "other": rel.object_golden_id if mine else rel.subject_golden_id,
                          "label": rel.label})
    names = {x["id"]: x for x in golden_summaries(s, [r["other"] for r in relations])}
    for rel in relations:
        rel["name"] = names.get(rel["other"], {}).get("name", "")
    relations.sort(key=lambda r: (r["role"], r["name"], r["other"]))
    history = [{"id": h.id, "event_type": h.event_type, "created_at": _utc(h.created_at), "actor": h.actor,
                "run_id": h.run_id, "details": {k: HIDDEN if secret and k in ("old", "new", "identifier")
                                                and _contact_event(h.details) else detail_text(v)
                                                for k, v in (h.details or {}).items()}}
               for h in s.scalars(select(m.GoldenHistory).where(m.GoldenHistory.golden_id == golden_id)
                                  .order_by(m.GoldenHistory.id.desc()).limit(history_limit))]
    merged_from = list(s.scalars(select(m.GoldenRecord.id).where(m.GoldenRecord.redirect_to == golden_id)
                                 .order_by(m.GoldenRecord.id)))
    return {"id": g.id, "status": g.status, "redirect_to": g.redirect_to, "kind": g.kind,
            "name": display_name(g.attributes, golden=True), "created_at": _utc(g.created_at),
            "updated_at": _utc(g.updated_at), "turvakielto": lookup.is_turvakielto(g.attributes),
            "has_hetu": any(i["type"] in HETU_TYPES for i in identifiers) or bool((g.attributes or {}).get("hetu")),
            "attributes": attributes, "records": recs, "identifiers": identifiers, "overrides": overrides,
            "relations": relations, "history": history, "merged_from": merged_from}


# -- search ------------------------------------------------------------------------------

def parse_date(text: str) -> dt.date | None:
    """An ISO (1952-10-13) or Finnish (13.10.1952) date, or None."""
    for fmt in ("%Y-%m-%d", "%d.%m.%Y"):
        try:
            return dt.datetime.strptime(text.strip(), fmt).date()
        except ValueError:
            pass
    return None


def search_people(s: Session, text: str, *, limit: int = SEARCH_LIMIT) -> list[dict[str, Any]]:
    """Active golden records whose names contain every word and whose birth date is any date given.

    Callers must refuse HETU-shaped text first (it would be a HETU in a GET URL).
    """
    words = [w for w in (text or "").split() if w]
    if not words:
        return []
    attr = m.GoldenRecord.attributes
    names = [func.lower(func.coalesce(attr[(k, "value")].as_string(), ""))
             for k in ("given_names", "calling_name", "family_name")]
    q = select(m.GoldenRecord.id).where(m.GoldenRecord.status == "active")
    for word in words:
        day = parse_date(word)
        if day is not None:
            q = q.where(attr[("birth_date", "value")].as_string() == day.isoformat())
        else:
            like = f"%{word.lower().replace('%', '').replace('_', '')}%"
            q = q.where(or_(*(n.like(like) for n in names)))
    return golden_summaries(s, s.scalars(q.order_by(m.GoldenRecord.id).limit(limit)))


def search_identifier(s: Session, type_: str, value: str) -> list[dict[str, Any]]:
    """Golden records holding an identifier, normalised exactly as the API's lookup does.

    Raises ``lookup.InvalidLookup`` for a value that is not valid for its type.
    """
    key = lookup.parse_lookup(type_, value)
    # Stewards see every source, health included (their access is logged by the caller).
    view = lookup.View(frozenset(lookup.ATTRIBUTE_GROUP.values()) | {"health"}, None, False)
    return golden_summaries(s, lookup.find_golden_ids(s, key, view))


# -- runs, audit, accounts ---------------------------------------------------------------

def runs(s: Session, *, page: int = 1, per_page: int = 25) -> Page:
    q = select(m.ReconciliationRun).order_by(m.ReconciliationRun.id.desc())
    rows, total, page = _page(s, q, page, per_page)
    items = []
    for (run,) in rows:
        rep = run.report or {}
        items.append({"id": run.id, "kind": run.kind, "status": run.status, "started_at": _utc(run.started_at),
                      "finished_at": _utc(run.finished_at), "seconds": rep.get("seconds"),
                      "records": (rep.get("matching") or {}).get("records"), "golden": rep.get("golden") or {},
                      "error": mask_text(run.error) if run.error else None})
    return Page(items, total, page, per_page)


def run_detail(s: Session, run_id: int) -> m.ReconciliationRun | None:
    return s.get(m.ReconciliationRun, run_id)


def audit_events(s: Session, *, actor: str | None = None, action: str | None = None,
                 date_from: dt.date | None = None, date_to: dt.date | None = None, page: int = 1,
                 per_page: int = 50) -> Page:
    q = select(m.AuditEvent).order_by(m.AuditEvent.id.desc())
    if actor:
        q = q.where(m.AuditEvent.actor == actor)
    if action:
        q = q.where(m.AuditEvent.action == action)
    if date_from:
        q = q.where(m.AuditEvent.created_at >= dt.datetime.combine(date_from, dt.time(), dt.timezone.utc))
    if date_to:
        q = q.where(m.AuditEvent.created_at < dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time(),
                                                                  dt.timezone.utc))
    rows, total, page = _page(s, q, page, per_page)
    items = [{"id": e.id, "created_at": _utc(e.created_at), "actor": e.actor, "action": e.action,
              "target_type": e.target_type, "target_id": e.target_id,
              "details": {k: detail_text(v) for k, v in (e.details or {}).items() if v not in (None, [], {})}}
             for (e,) in rows]
    return Page(items, total, page, per_page)


def audit_choices(s: Session) -> tuple[list[str], list[str]]:
    """The actors and actions that occur in the audit log (for the filter's lists)."""
    return (list(s.scalars(select(m.AuditEvent.actor).distinct().order_by(m.AuditEvent.actor))),
            list(s.scalars(select(m.AuditEvent.action).distinct().order_by(m.AuditEvent.action))))


def users(s: Session) -> list[m.AppUser]:
    return list(s.scalars(select(m.AppUser).order_by(m.AppUser.username)))


def clients(s: Session) -> list[dict[str, Any]]:
    return [{"name": c.name, "scopes": Scopes.from_json(c.scopes).words(), "rate": c.rate_limit_per_minute,
             "created_at": _utc(c.created_at), "revoked_at": _utc(c.revoked_at)}
            for c in s.scalars(select(m.ApiClient).order_by(m.ApiClient.name))]
