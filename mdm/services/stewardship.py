"""Steward actions: review decisions, merge, split, attribute overrides, HETU reveal.

Used by the steward UI, the API and ``mdm steward``; plain functions over a
SQLAlchemy session (the caller commits), each naming its actor. Every action
writes an ``audit_event`` row. Merges, splits and overrides change the golden
records at once (links, surviving attributes, identifier set, relations,
history and change feed, the same way a reconciliation does) *and* leave
steward decisions behind, so the next reconciliation reaches the same golden
records instead of undoing the steward's work. Decisions on review tasks take
effect at the next reconciliation.

Every writer of golden state takes :func:`golden.lock_golden_writes` first, so
a steward action and a reconciliation's golden update never interleave.
"""
from __future__ import annotations

import datetime as dt
from itertools import product
from typing import Any, Iterable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from rules import hetu as hetu_rules
from rules.survivorship import ATTRIBUTES

from ..errors import MdmError
from ..store import models as m
from .events import EventRecorder
from .golden import lock_golden_writes, recompute_goldens, sync_relations
from .golden_ids import mint_id

DECISIONS = {"same": "must_link", "different": "cannot_link", "skip": None}
REVEAL_ROLES = frozenset({"steward", "admin"})
HETU_TYPES = ("hetu", "kela_card", "temporary_id")
MAX_REDIRECTS = 64


class StewardshipError(MdmError):
    """A steward action that cannot be done as asked (the message says why)."""


class NotFound(StewardshipError):
    pass


class NotPermitted(StewardshipError, PermissionError):
    """The role may not do this (e.g. a viewer revealing a HETU)."""


# -- small shared pieces -------------------------------------------------------

def _need(actor: str) -> str:
    if not actor or not actor.strip():
        raise StewardshipError("a steward action needs the actor's name")
    return actor.strip()


def _audit(session: Session, actor: str, action: str, target_type: str, target_id: str, **details: Any) -> None:
    session.add(m.AuditEvent(actor=actor, action=action, target_type=target_type, target_id=str(target_id),
                             details=details))


def _active_golden(session: Session, golden_id: str) -> m.GoldenRecord:
    row = session.get(m.GoldenRecord, golden_id)
    if row is None:
        raise NotFound(f"no golden record {golden_id}")
    if row.status != "active":
        where = f" into {row.redirect_to}" if row.redirect_to else ""
        raise StewardshipError(f"golden record {golden_id} is {row.status}{where}, not active")
    return row


def _records_of(session: Session, golden_id: str) -> list[int]:
    """The current (not deleted) source records linked to a golden record."""
    return list(session.scalars(
        select(m.GoldenLink.source_record_id)
        .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
        .where(m.GoldenLink.golden_id == golden_id, m.SourceRecord.deleted_at.is_(None))
        .order_by(m.GoldenLink.source_record_id)))


def _pair(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _pairs_between(left: Iterable[int], right: Iterable[int]) -> list[tuple[int, int]]:
    return sorted({_pair(a, b) for a, b in product(left, right) if a != b})


def _chain(records: list[int]) -> list[tuple[int, int]]:
    ordered = sorted(records)
    return list(zip(ordered, ordered[1:]))


def _revoke(session: Session, pairs: list[tuple[int, int]], kind: str, actor: str) -> list[int]:
    """Revoke the active decisions of ``kind`` on these pairs (a newer steward ruling wins)."""
    if not pairs:
        return []
    now = m.utcnow()
    ids: list[int] = []
    for i in range(0, len(pairs), 500):
        chunk = pairs[i:i + 500]
        ids += session.scalars(select(m.StewardDecision.id).where(
            m.StewardDecision.kind == kind, m.StewardDecision.revoked_at.is_(None),
            or_(*(and_(m.StewardDecision.left_record_id == a, m.StewardDecision.right_record_id == b)
                  for a, b in chunk)))).all()
    if ids:
        session.execute(update(m.StewardDecision).where(m.StewardDecision.id.in_(ids))
                        .values(revoked_at=now, revoked_by=actor))
    return sorted(ids)


def _decide(session: Session, pairs: list[tuple[int, int]], kind: str, actor: str, comment: str | None,
            task_id: int | None = None) -> list[int]:
    """Record ``kind`` on each pair, revoking the opposite ruling; an existing equal one is kept."""
    opposite = "cannot_link" if kind == "must_link" else "must_link"
    _revoke(session, pairs, opposite, actor)
    existing = set()
    for a, b in pairs:
        if session.scalar(select(m.StewardDecision.id).where(
                m.StewardDecision.left_record_id == a, m.StewardDecision.right_record_id == b,
                m.StewardDecision.kind == kind, m.StewardDecision.revoked_at.is_(None))) is not None:
            existing.add((a, b))
    rows = [m.StewardDecision(left_record_id=a, right_record_id=b, kind=kind, actor=actor, comment=comment,
                              review_task_id=task_id) for a, b in pairs if (a, b) not in existing]
    session.add_all(rows)
    session.flush()
    return [r.id for r in rows]


def _close_tasks_between(session: Session, left: list[int], right: list[int], actor: str) -> int:
    """Open review tasks about pairs the action has just ruled on become obsolete."""
    pairs = set(_pairs_between(left, right))
    if not pairs:
        return 0
    ids = [tid for tid, a, b in session.execute(
        select(m.ReviewTask.id, m.ReviewTask.left_record_id, m.ReviewTask.right_record_id)
        .where(m.ReviewTask.status == "open",
               m.ReviewTask.left_record_id.in_(set(left) | set(right)))) if (a, b) in pairs]
    if ids:
        session.execute(update(m.ReviewTask).where(m.ReviewTask.id.in_(ids))
                        .values(status="obsolete", decided_at=m.utcnow(), decided_by=actor))
    return len(ids)


# -- review tasks ----------------------------------------------------------------

def decide_review_task(session: Session, task_id: int, decision: str, actor: str,
                       comment: str | None = None) -> int | None:
    """Decide an open review task: ``same``, ``different`` or ``skip``.

    ``same``/``different`` record a must-link/cannot-link steward decision on
    the pair, which the next reconciliation honours; ``skip`` leaves the pair
    undecided. Returns the decision's id (None for a skip).
    """
    actor = _need(actor)
    if decision not in DECISIONS:
        raise StewardshipError(f"unknown decision {decision!r}; expected same, different or skip")
    lock_golden_writes(session)
    task = session.get(m.ReviewTask, task_id)
    if task is None:
        raise NotFound(f"no review task {task_id}")
    if task.status != "open":
        raise StewardshipError(f"review task {task_id} is {task.status}, not open")
    kind = DECISIONS[decision]
    decision_id = None
    if kind is not None:
        decision_id = _decide(session, [(task.left_record_id, task.right_record_id)], kind, actor, comment,
                              task_id=task.id)[0]
    task.status = "skipped" if kind is None else "decided"
    task.decision, task.decided_by, task.decided_at, task.comment = decision, actor, m.utcnow(), comment
    _audit(session, actor, "review_decision", "review_task", str(task_id), decision=decision,
           left_record_id=task.left_record_id, right_record_id=task.right_record_id,
           steward_decision_id=decision_id, comment=comment)
    session.flush()
    return decision_id


# -- merge and split -----------------------------------------------------------------

def merge_golden(session: Session, survivor_id: str, other_id: str, actor: str, comment: str | None = None) -> str:
    """Merge ``other_id`` into ``survivor_id`` now; returns the survivor's id.

    The other's records move to the survivor, the other becomes ``merged`` with
    a redirect (earlier redirects to it are re-pointed), and its overrides move
    along unless the survivor has its own for that attribute. Earlier
    "different people" rulings between the two are revoked and a must-link
    between one record of each keeps them together in later reconciliations.
    """
    actor = _need(actor)
    if survivor_id == other_id:
        raise StewardshipError("cannot merge a golden record with itself")
    lock_golden_writes(session)
    _active_golden(session, survivor_id)
    _active_golden(session, other_id)
    kept, moved = _records_of(session, survivor_id), _records_of(session, other_id)
    now = m.utcnow()
    revoked = _revoke(session, _pairs_between(kept, moved), "cannot_link", actor)
    decision_ids = _decide(session, [_pair(kept[0], moved[0])], "must_link", actor, comment) if kept and moved else []

    session.execute(update(m.GoldenLink).where(m.GoldenLink.golden_id == other_id)
                    .values(golden_id=survivor_id, since=now, run_id=None))
    if kept and moved:
        session.execute(update(m.GoldenLink).where(m.GoldenLink.source_record_id.in_((kept[0], moved[0])))
                        .values(kind="steward"))
    session.execute(update(m.GoldenRecord).where(m.GoldenRecord.id == other_id)
                    .values(status="merged", redirect_to=survivor_id, updated_at=now))
    session.execute(update(m.GoldenRecord).where(m.GoldenRecord.redirect_to == other_id)
                    .values(redirect_to=survivor_id))
    own = set(session.scalars(select(m.AttributeOverride.attribute).where(
        m.AttributeOverride.golden_id == survivor_id, m.AttributeOverride.removed_at.is_(None))))
    for ov in session.scalars(select(m.AttributeOverride).where(
            m.AttributeOverride.golden_id == other_id, m.AttributeOverride.removed_at.is_(None))):
        if ov.attribute in own:
            ov.removed_at, ov.removed_by = now, actor
        else:
            ov.golden_id = survivor_id
    session.flush()

    events = EventRecorder(session, None, actor)
    events.record(other_id, "merged", into=survivor_id)
    events.record(survivor_id, "absorbed", golden_id_merged=other_id)
    recompute_goldens(session, [survivor_id], events)
    sync_relations(session, events, now, [survivor_id, other_id])
    closed = _close_tasks_between(session, kept, moved, actor)
    events.flush()
    _audit(session, actor, "merge_golden", "golden_record", survivor_id, merged=other_id, comment=comment,
           records_moved=len(moved), steward_decisions=decision_ids, revoked_decisions=revoked,
           review_tasks_closed=closed)
    return survivor_id


def split_golden(session: Session, golden_id: str, record_ids: Iterable[int], actor: str,
                 comment: str | None = None) -> str:
    """Move the selected source records to a newly minted golden record; returns its id.

    The rest keep ``golden_id``. Cannot-links between every selected and every
    remaining record keep the two apart; must-links chaining the records within
    each part keep each part whole (the steward has assigned every record, and a
    part may otherwise have hung together only through the other part's records).
    """
    actor = _need(actor)
    lock_golden_writes(session)
    _active_golden(session, golden_id)
    current = _records_of(session, golden_id)
    selected = sorted(set(int(r) for r in record_ids))
    foreign = sorted(set(selected) - set(current))
    if foreign:
        raise StewardshipError(f"records {foreign} are not current records of golden record {golden_id}")
    if not selected:
        raise StewardshipError("select at least one record to split off")
    remaining = [r for r in current if r not in set(selected)]
    if not remaining:
        raise StewardshipError("cannot split off every record of a golden record; leave at least one")

    now = m.utcnow()
    # Seeded like a reconciliation's new golden record for the same first record.
    new_id = mint_id(f"record:{selected[0]}",
                     lambda c: session.scalar(select(m.GoldenRecord.id).where(m.GoldenRecord.id == c)) is not None)
    session.add(m.GoldenRecord(id=new_id, kind="person", status="active", attributes={}, identifier_set=[],
                               created_at=now, updated_at=now))
    session.flush()
    session.execute(update(m.GoldenLink).where(m.GoldenLink.source_record_id.in_(selected))
                    .values(golden_id=new_id, kind="steward", since=now, run_id=None))
    across = _pairs_between(selected, remaining)
    revoked = _revoke(session, across, "must_link", actor)
    cannot = _decide(session, across, "cannot_link", actor, comment)
    must = _decide(session, _chain(selected) + _chain(remaining), "must_link", actor, comment)

    events = EventRecorder(session, None, actor)
    events.record(golden_id, "split", new_golden_ids=[new_id])
    events.record(new_id, "created", records=len(selected), split_from=golden_id)
    recompute_goldens(session, [golden_id], events)
    # The new record's attributes are part of its creation, not changes of it.
    recompute_goldens(session, [new_id], None)
    sync_relations(session, events, now, [golden_id, new_id])
    closed = _close_tasks_between(session, selected, remaining, actor)
    events.flush()
    _audit(session, actor, "split_golden", "golden_record", golden_id, new_golden_id=new_id,
           records=selected, comment=comment, cannot_links=len(cannot), must_links=len(must),
           revoked_decisions=revoked, review_tasks_closed=closed)
    return new_id


# -- overrides -------------------------------------------------------------------------

def _check_override(attribute: str, value: Any) -> Any:
    if attribute not in ATTRIBUTES:
        raise StewardshipError(f"unknown attribute {attribute!r}; expected one of {', '.join(ATTRIBUTES)}")
    if value is None:
        return None
    if attribute == "hetu":
        n = hetu_rules.normalise(str(value))
        if n.error or n.value is None:
            raise StewardshipError("the HETU override is not a valid HETU")
        return n.value
    if attribute == "birth_date":
        try:
            return dt.date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise StewardshipError("a birth date override must be an ISO date (YYYY-MM-DD)") from None
    if attribute in ("turvakielto", "deceased") and not isinstance(value, bool):
        raise StewardshipError(f"a {attribute} override is true or false")
    if attribute == "sex" and value not in ("male", "female", "other"):
        raise StewardshipError("a sex override is male, female or other")
    return value


def set_override(session: Session, golden_id: str, attribute: str, value: Any, actor: str,
                 reason: str | None = None) -> int:
    """A steward's value for one attribute, in effect at once and until removed; returns its id.

    An earlier active override of the same attribute is superseded (removed).
    """
    actor = _need(actor)
    value = _check_override(attribute, value)
    lock_golden_writes(session)
    _active_golden(session, golden_id)
    now = m.utcnow()
    superseded = session.execute(
        update(m.AttributeOverride)
        .where(m.AttributeOverride.golden_id == golden_id, m.AttributeOverride.attribute == attribute,
               m.AttributeOverride.removed_at.is_(None))
        .values(removed_at=now, removed_by=actor)).rowcount
    row = m.AttributeOverride(golden_id=golden_id, attribute=attribute, value=value, reason=reason, actor=actor,
                              created_at=now)
    session.add(row)
    session.flush()
    events = EventRecorder(session, None, actor)
    recompute_goldens(session, [golden_id], events)
    events.flush()
    shown = hetu_rules.mask(value) if attribute == "hetu" and value else value
    _audit(session, actor, "set_override", "golden_record", golden_id, override_id=row.id, attribute=attribute,
           value=shown, reason=reason, superseded=superseded)
    return row.id


def remove_override(session: Session, override_id: int, actor: str) -> str:
    """End an override; the attribute falls back to survivorship at once. Returns the golden id."""
    actor = _need(actor)
    lock_golden_writes(session)
    row = session.get(m.AttributeOverride, override_id)
    if row is None:
        raise NotFound(f"no attribute override {override_id}")
    if row.removed_at is not None:
        raise StewardshipError(f"attribute override {override_id} was already removed")
    row.removed_at, row.removed_by = m.utcnow(), actor
    session.flush()
    golden = session.get(m.GoldenRecord, row.golden_id)
    if golden is not None and golden.status == "active":
        events = EventRecorder(session, None, actor)
        recompute_goldens(session, [row.golden_id], events)
        events.flush()
    _audit(session, actor, "remove_override", "golden_record", row.golden_id, override_id=override_id,
           attribute=row.attribute)
    return row.golden_id


# -- reading ------------------------------------------------------------------------------

def resolve_golden_id(session: Session, golden_id: str) -> tuple[str, bool]:
    """Follow merge redirects to the golden record an id ends at: (final id, redirected?)."""
    seen: list[str] = []
    gid = golden_id
    while True:
        row = session.execute(select(m.GoldenRecord.status, m.GoldenRecord.redirect_to)
                              .where(m.GoldenRecord.id == gid)).first()
        if row is None:
            if seen:
                raise StewardshipError(f"golden record {golden_id} redirects to {gid}, which does not exist")
            raise NotFound(f"no golden record {golden_id}")
        if row.status != "merged" or row.redirect_to is None:
            return gid, bool(seen)
        seen.append(gid)
        if row.redirect_to in seen or len(seen) > MAX_REDIRECTS:
            raise StewardshipError(f"golden record {golden_id} has a redirect loop")
        gid = row.redirect_to


def reveal_hetu(session: Session, golden_id: str, actor: str, role: str, reason: str) -> list[str]:
    """The unmasked HETU(s) of a golden record, for a steward or admin with a reason; logged.

    The surviving value comes first, then every other HETU-type value of its
    current records. A merged id answers for the record it was merged into.
    """
    actor = _need(actor)
    if role not in REVEAL_ROLES:
        raise NotPermitted(f"the role {role!r} may not reveal a HETU (steward or admin only)")
    if not reason or not reason.strip():
        raise StewardshipError("revealing a HETU needs a reason")
    final_id, _redirected = resolve_golden_id(session, golden_id)
    golden = session.get(m.GoldenRecord, final_id)
    assert golden is not None
    values: list[str] = []
    surviving = ((golden.attributes or {}).get("hetu") or {}).get("value")
    if surviving:
        values.append(str(surviving))
    for value in session.scalars(
            select(m.Identifier.value).distinct()
            .join(m.GoldenLink, m.GoldenLink.source_record_id == m.Identifier.source_record_id)
            .join(m.SourceRecord, m.SourceRecord.id == m.Identifier.source_record_id)
            .where(m.GoldenLink.golden_id == final_id, m.SourceRecord.deleted_at.is_(None),
                   m.Identifier.type.in_(HETU_TYPES), m.Identifier.value.is_not(None))
            .order_by(m.Identifier.value)):
        if value not in values:
            values.append(value)
    # The audit row names the person and the reason, never the values.
    _audit(session, actor, "reveal_hetu", "golden_record", final_id, role=role, reason=reason.strip(),
           requested_id=golden_id, count=len(values))
    session.flush()
    return values
