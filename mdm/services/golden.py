"""Applying a matching outcome to the golden records, in the caller's transaction.

Ids (see :mod:`golden_ids`), surviving attributes with provenance, links,
identifier sets, relations lifted to golden records, review tasks and the
matching state all change together; every golden change is recorded in the
history and the change feed. Nothing is written for what did not change, so
a run on unchanged data leaves no trace. Steward overrides of a golden record
merged away move to the survivor (unless it has its own for the attribute).

The recomputation helpers (:func:`recompute_goldens`, :func:`sync_relations`,
:func:`record_changes`) are shared with the steward actions of
:mod:`mdm.services.stewardship`, so a steward's merge or split computes exactly
what the next reconciliation would.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Iterator

from sqlalchemy import bindparam, delete, func, insert, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from rules.survivorship import load_survivorship, survive

from ..store import models as m
from ..store.bulk import indexes_deferred
from .events import EventRecorder, masked_attribute, masked_identifier
from .golden_ids import assign, mint_id
from . import match_cache
from .matching import MatchingOutcome, ScoredPair, store_features
from .review import sync_review_tasks
from .survivors import Survivors, identifier_set

KIND_RANK = {"steward": 0, "rule": 1, "auto": 2}


@dataclass
class GoldenReport:
    created: int = 0
    merged: int = 0
    split: int = 0
    retired: int = 0
    updated: int = 0
    links_changed: int = 0
    relations_added: int = 0
    relations_removed: int = 0
    review_opened: int = 0
    review_closed: int = 0
    history_rows: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _same(a: Any, b: Any) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def lock_golden_writes(session: Session) -> None:
    """Serialise writers of golden state (a reconciliation's apply, steward actions).

    Call it first in the transaction. PostgreSQL: a transaction-level advisory
    lock. SQLite: a write statement that changes nothing, which takes SQLite's
    single writer lock now (waiting up to the busy timeout) instead of at the
    first real write, when another writer's commit would make it fail.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(727002)"))
    else:
        session.execute(text("UPDATE golden_record SET id = id WHERE 1 = 0"))


def record_changes(events: EventRecorder, gid: str, old_attrs: dict[str, Any] | None, attrs: dict[str, Any],
                   old_idents: set[str], idents: set[str]) -> bool:
    """History for one golden record's new attributes and identifiers; True if anything differs.

    A provenance-only change (same value, other source record) is saved without history.
    """
    old_attrs = old_attrs or {}
    changed = False
    for attr in sorted(set(attrs) | set(old_attrs)):
        before, after = old_attrs.get(attr), attrs.get(attr)
        if not _same(before, after):
            if not _same((before or {}).get("value"), (after or {}).get("value")):
                events.record(gid, "attribute_changed", attribute=attr,
                              old=masked_attribute(attr, (before or {}).get("value")),
                              new=masked_attribute(attr, (after or {}).get("value")),
                              source=(after or {}).get("source"), rule=(after or {}).get("rule"))
            changed = True
    for entry in sorted(idents - old_idents):
        events.record(gid, "identifier_added", identifier=masked_identifier(entry))
    for entry in sorted(old_idents - idents):
        events.record(gid, "identifier_removed", identifier=masked_identifier(entry))
    return changed or idents != old_idents


def active_overrides(session: Session, golden_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Golden id -> attribute -> the steward's value, of overrides not removed (the latest wins)."""
    query = (select(m.AttributeOverride.golden_id, m.AttributeOverride.attribute, m.AttributeOverride.value)
             .where(m.AttributeOverride.removed_at.is_(None)).order_by(m.AttributeOverride.id))
    if golden_ids is not None:
        query = query.where(m.AttributeOverride.golden_id.in_(golden_ids))
    out: dict[str, dict[str, Any]] = {}
    for gid, attr, value in session.execute(query):
        out.setdefault(gid, {})[attr] = value
    return out


def golden_members(session: Session, golden_ids: list[str]) -> dict[str, list[tuple[int, str, dict[str, Any], str | None]]]:
    """Golden id -> its linked records as survivorship input: (record id, source, standardised, updated-at).

    The same values, in the same form, as matching gives the reconciliation
    (mdm.services.match_inputs.load_records), so a steward action computes exactly
    what the next run would.
    """
    out: dict[str, list[tuple[int, str, dict[str, Any], str | None]]] = {g: [] for g in golden_ids}
    for gid, rid, src, std, updated in session.execute(
            select(m.GoldenLink.golden_id, m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.standardised,
                   m.SourceRecord.source_updated_at)
            .join(m.SourceRecord, m.SourceRecord.id == m.GoldenLink.source_record_id)
            .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
            .where(m.GoldenLink.golden_id.in_(golden_ids), m.SourceRecord.deleted_at.is_(None))
            .order_by(m.SourceRecord.id)):
        out[gid].append((int(rid), src, std, updated.isoformat() if updated else None))
    return out


def recompute_goldens(session: Session, golden_ids: list[str], events: EventRecorder | None) -> list[str]:
    """Recompute the surviving attributes and identifier sets of these active golden records
    from their linked records and active overrides; history for what changed (none
    when ``events`` is None: a record just created has no changes to tell).

    Used by steward actions, whose effect is immediate; returns the ids that changed.
    """
    # An unflushed recorder collects nothing that is ever written.
    events = events or EventRecorder(session, None, "")
    rules = load_survivorship()
    members = golden_members(session, golden_ids)
    overrides = active_overrides(session, golden_ids)
    rows = {r.id: r for r in session.execute(
        select(m.GoldenRecord.id, m.GoldenRecord.attributes, m.GoldenRecord.identifier_set)
        .where(m.GoldenRecord.id.in_(golden_ids)))}
    changed = []
    now = m.utcnow()
    for gid in golden_ids:
        attrs = survive(members[gid], rules, overrides.get(gid))
        idents: set[str] = set()
        for _rid, _src, std, _upd in members[gid]:
            idents |= identifier_set(std)
        old = rows[gid]
        if record_changes(events, gid, old.attributes, attrs, set(old.identifier_set or []), idents):
            session.execute(update(m.GoldenRecord).where(m.GoldenRecord.id == gid)
                            .values(attributes=attrs, identifier_set=sorted(idents), updated_at=now))
            changed.append(gid)
    return changed


def _changed_records(session: Session) -> set[int]:
    """Records pulled as new, changed or deleted since the last successful reconciliation."""
    last_ok = match_cache.last_successful_run(session)
    query = select(m.SourceRecord.id)
    if last_ok is not None:
        query = query.where(match_cache.changed_since(last_ok[0]))
    return set(session.scalars(query))


def _batches(keys: list[int], members: dict[int, list[int]], records: int) -> Iterator[list[int]]:
    """Cluster keys in batches of about ``records`` records (bounded memory for a full run)."""
    batch: list[int] = []
    size = 0
    for key in keys:
        batch.append(key)
        size += len(members[key])
        if size >= records:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _best_edges(outcome: MatchingOutcome) -> dict[int, tuple[str, float | None, ScoredPair | None]]:
    """Per record, the strongest edge that put it in its cluster: (kind, score, its pair if scored)."""
    best: dict[int, tuple[tuple[int, float], str, float | None, ScoredPair | None]] = {}
    for (a, b), edge in outcome.clusters.edges_used.items():
        pair = outcome.pairs.get((a, b))
        score = pair.match_probability if pair else None
        rank = (KIND_RANK.get(edge.kind, 3), -edge.weight)
        for rid in (a, b):
            if rid not in best or rank < best[rid][0]:
                best[rid] = (rank, edge.kind, score, pair)
    return {rid: (kind, score, pair) for rid, (_r, kind, score, pair) in best.items()}


def apply_matching(session: Session, outcome: MatchingOutcome, run_id: int | None,
                   actor: str = "reconcile") -> GoldenReport:
    report = GoldenReport()
    events = EventRecorder(session, run_id, actor, bulk=True)
    now = m.utcnow()

    scope = outcome.scope
    link_rows = _link_rows(session, None if scope is None else sorted(scope | outcome.deleted_ids))
    links = {rid: r.golden_id for rid, r in link_rows.items()}
    if scope is None:
        all_ids = set(session.scalars(select(m.GoldenRecord.id)).all())
        active = set(session.scalars(select(m.GoldenRecord.id).where(m.GoldenRecord.status == "active")).all())
        exists = all_ids.__contains__
    else:
        # Outside the scope nothing changes: only the golden records of its records take part
        # (a golden record's records are all inside the scope or all outside it).
        active = _active_among(session, sorted(set(links.values())))
        all_ids = set()

        def exists(candidate: str) -> bool:
            return candidate in all_ids or session.get(m.GoldenRecord, candidate) is not None
    overrides = active_overrides(session)

    members = outcome.clusters.members()
    ids = assign(members, links, active)
    final: dict[int, str] = {}
    for key in sorted(members):
        kept = ids.golden_of[key]
        if kept is None:
            kept = mint_id(f"record:{members[key][0]}", exists)
            all_ids.add(kept)
        final[key] = kept
    # A merged golden record's overrides follow its records to the survivor (whose own
    # overrides win): a steward's value must not silently stop winning after a merge.
    inherited: dict[str, dict[str, Any]] = {}
    for old_id, key in sorted(ids.merged_into.items()):
        target = overrides.setdefault(final[key], {})
        inherited[old_id] = {a: v for a, v in overrides.get(old_id, {}).items() if a not in target}
        target.update(inherited[old_id])

    # Only golden records whose inputs changed are recomputed: new ones, those whose
    # membership changed, those holding a record changed since the last good run.
    touched = outcome.touched if outcome.touched is not None else _changed_records(session)
    old_size: dict[str, int] = {}
    for gid in links.values():
        old_size[gid] = old_size.get(gid, 0) + 1
    dirty = [key for key, recs in members.items()
             if ids.golden_of[key] is None or old_size.get(final[key]) != len(recs)
             or any(links.get(r) != final[key] or r in touched for r in recs)]

    new_goldens, changed_goldens = [], []
    splits: dict[str, list[str]] = {}
    jobs = ([(key, members[key], overrides.get(final[key])) for key in batch]
            for batch in _batches(sorted(dirty), members, 20_000))
    state_written = False
    with Survivors(session, jobs, records=sum(len(members[key]) for key in dirty)) as survivors:
        if survivors.pool is not None:
            # While workers compute survivorship: what does not depend on it.
            _store_matching_state(session, outcome, run_id)
            store_features(session, outcome)
            state_written = True
        for results in survivors:
            kept_ids = [final[key] for key, _a, _i in results if ids.golden_of[key] is not None]
            old_rows = {}
            for i in range(0, len(kept_ids), 5000):
                old_rows.update({r.id: r for r in session.execute(
                    select(m.GoldenRecord.id, m.GoldenRecord.attributes, m.GoldenRecord.identifier_set)
                    .where(m.GoldenRecord.id.in_(kept_ids[i:i + 5000])))})
            for key, attrs, idents in results:
                recs = members[key]
                gid = final[key]
                ident_list = sorted(idents)
                if ids.golden_of[key] is None:
                    new_goldens.append({"id": gid, "kind": "person", "status": "active", "attributes": attrs,
                                        "identifier_set": ident_list, "created_at": now, "updated_at": now,
                                        "created_run_id": run_id})
                    origin = ids.split_from.get(key)
                    events.record(gid, "created", records=len(recs), **({"split_from": origin} if origin else {}))
                    if origin:
                        splits.setdefault(origin, []).append(gid)
                    report.created += 1
                    continue
                old = old_rows[gid]
                if record_changes(events, gid, old.attributes, attrs, set(old.identifier_set or []), idents):
                    changed_goldens.append({"b_id": gid, "attributes": attrs, "identifier_set": ident_list,
                                            "updated_at": now})
                    report.updated += 1

    for origin, parts in sorted(splits.items()):
        events.record(origin, "split", new_golden_ids=sorted(parts))
        report.split += 1
    if new_goldens:
        session.execute(insert(m.GoldenRecord.__table__), new_goldens)
    if changed_goldens:
        table = m.GoldenRecord.__table__
        session.execute(
            update(table).where(table.c.id == bindparam("b_id"))
            .values(attributes=bindparam("attributes"), identifier_set=bindparam("identifier_set"),
                    updated_at=bindparam("updated_at")),
            changed_goldens,
        )

    for old_id, key in sorted(ids.merged_into.items()):
        survivor = final[key]
        session.execute(update(m.GoldenRecord).where(m.GoldenRecord.id == old_id)
                        .values(status="merged", redirect_to=survivor, updated_at=now))
        # Earlier redirects to the merged record now point straight at the survivor.
        session.execute(update(m.GoldenRecord).where(m.GoldenRecord.redirect_to == old_id)
                        .values(redirect_to=survivor))
        if inherited[old_id]:
            session.execute(update(m.AttributeOverride)
                            .where(m.AttributeOverride.golden_id == old_id, m.AttributeOverride.removed_at.is_(None),
                                   m.AttributeOverride.attribute.in_(sorted(inherited[old_id])))
                            .values(golden_id=survivor))
        session.execute(update(m.AttributeOverride)
                        .where(m.AttributeOverride.golden_id == old_id, m.AttributeOverride.removed_at.is_(None))
                        .values(removed_at=now, removed_by=actor))
        events.record(old_id, "merged", into=survivor)
        events.record(survivor, "absorbed", golden_id_merged=old_id)
        report.merged += 1
    for old_id in sorted(ids.retired):
        session.execute(update(m.GoldenRecord).where(m.GoldenRecord.id == old_id)
                        .values(status="retired", updated_at=now))
        events.record(old_id, "retired")
        report.retired += 1

    report.links_changed = _sync_links(session, outcome, final, members, link_rows, run_id, now)
    added, removed = sync_relations(session, events, now, None if scope is None else _relation_scope(
        session, set(links.values()) | set(final.values()), outcome.touched or set()))
    report.relations_added, report.relations_removed = added, removed
    report.review_opened, report.review_closed = sync_review_tasks(
        session, outcome, run_id, None if scope is None else scope | outcome.deleted_ids)
    if not state_written:
        _store_matching_state(session, outcome, run_id)
        store_features(session, outcome)
    events.flush()
    report.history_rows = events.count
    return report


def _link_rows(session: Session, record_ids: list[int] | None) -> dict[int, Any]:
    """Stored links (record id -> row) of these records, or of all."""
    query = select(m.GoldenLink.source_record_id, m.GoldenLink.golden_id, m.GoldenLink.kind, m.GoldenLink.score)
    if record_ids is None:
        return {r.source_record_id: r for r in session.execute(query)}
    out = {}
    for i in range(0, len(record_ids), 5000):
        out.update({r.source_record_id: r for r in session.execute(
            query.where(m.GoldenLink.source_record_id.in_(record_ids[i:i + 5000])))})
    return out


def _active_among(session: Session, golden_ids: list[str]) -> set[str]:
    out: set[str] = set()
    for i in range(0, len(golden_ids), 5000):
        out.update(session.scalars(select(m.GoldenRecord.id).where(
            m.GoldenRecord.id.in_(golden_ids[i:i + 5000]), m.GoldenRecord.status == "active")))
    return out


def _relation_scope(session: Session, golden_ids: set[str], touched: set[int]) -> list[str]:
    """Golden records whose lifted relations may have changed in a scoped run: those of the
    scope (before and after), and those at either end of a relation a changed record asserts.
    (Connectors assert a relation on one of its ends, so this is belt and braces.)"""
    out = set(golden_ids)
    ids = sorted(touched)
    subj, obj = aliased(m.GoldenLink), aliased(m.GoldenLink)
    for i in range(0, len(ids), 5000):
        for sg, og in session.execute(
                select(subj.golden_id, obj.golden_id)
                .select_from(m.SourceRelation)
                .outerjoin(subj, subj.source_record_id == m.SourceRelation.subject_record_id)
                .outerjoin(obj, obj.source_record_id == m.SourceRelation.object_record_id)
                .where(m.SourceRelation.asserted_by_record_id.in_(ids[i:i + 5000]))):
            out.update(g for g in (sg, og) if g)
    return sorted(out)


def _sync_links(session: Session, outcome: MatchingOutcome, final: dict[int, str],
                members: dict[int, list[int]], link_rows: dict[int, Any], run_id: int | None, now: Any) -> int:
    best = _best_edges(outcome)
    inserts, updates = [], []
    n_inserted = 0

    def explain(pair: ScoredPair | None) -> dict[str, Any]:
        return pair.explanation if pair is not None else {"steward": True}

    for key, recs in members.items():
        gid = final[key]
        for rid in recs:
            kind, score, pair = best.get(rid, ("auto", None, None))
            old = link_rows.get(rid)
            if old is None:
                inserts.append({"source_record_id": rid, "golden_id": gid, "kind": kind, "score": score,
                                "explanation": explain(pair) if rid in best else None, "since": now,
                                "run_id": run_id})
                if len(inserts) >= 5000:  # explanations are big: a full run writes them in batches
                    session.execute(insert(m.GoldenLink.__table__), inserts)
                    n_inserted += len(inserts)
                    inserts = []
            elif old.golden_id != gid or old.kind != kind or old.score != score:
                updates.append({"b_rid": rid, "golden_id": gid, "kind": kind, "score": score,
                                "explanation": explain(pair) if rid in best else None,
                                "since": now if old.golden_id != gid else None, "run_id": run_id})
    if inserts:
        session.execute(insert(m.GoldenLink.__table__), inserts)
        n_inserted += len(inserts)
    if updates:
        table = m.GoldenLink.__table__
        session.execute(
            update(table).where(table.c.source_record_id == bindparam("b_rid"))
            .values(golden_id=bindparam("golden_id"), kind=bindparam("kind"), score=bindparam("score"),
                    explanation=bindparam("explanation"), run_id=bindparam("run_id"),
                    since=func.coalesce(bindparam("since"), table.c.since)),
            updates,
        )
    current = set(outcome.record_ids)
    gone = [rid for rid in link_rows if rid not in current]
    for i in range(0, len(gone), 5000):
        session.execute(delete(m.GoldenLink).where(m.GoldenLink.source_record_id.in_(gone[i:i + 5000])))
    return n_inserted + len(updates) + len(gone)


def sync_relations(session: Session, events: EventRecorder, now: Any,
                   golden_ids: list[str] | None = None) -> tuple[int, int]:
    """Lift source relations whose both ends are linked; diff against the stored golden relations.

    ``golden_ids`` limits the work to relations touching those golden records
    (a steward action); ``None`` diffs everything (a reconciliation).
    """
    subj, obj = aliased(m.GoldenLink), aliased(m.GoldenLink)
    wanted_q = (select(m.SourceRelation.type, subj.golden_id, obj.golden_id, m.SourceRelation.label)
                .join(subj, subj.source_record_id == m.SourceRelation.subject_record_id)
                .join(obj, obj.source_record_id == m.SourceRelation.object_record_id)
                .order_by(m.SourceRelation.id))
    existing_q = select(m.GoldenRelation.id, m.GoldenRelation.type, m.GoldenRelation.subject_golden_id,
                        m.GoldenRelation.object_golden_id)
    if golden_ids is not None:
        wanted_q = wanted_q.where(or_(subj.golden_id.in_(golden_ids), obj.golden_id.in_(golden_ids)))
        existing_q = existing_q.where(or_(m.GoldenRelation.subject_golden_id.in_(golden_ids),
                                          m.GoldenRelation.object_golden_id.in_(golden_ids)))
    wanted: dict[tuple[str, str, str], str | None] = {}
    for kind, sg, og, label in session.execute(wanted_q):
        if sg != og:
            wanted.setdefault((kind, sg, og), label)
    existing = {(r.type, r.subject_golden_id, r.object_golden_id): r.id for r in session.execute(existing_q)}
    add = sorted(set(wanted) - set(existing))
    remove = sorted(set(existing) - set(wanted))
    if add:
        session.execute(insert(m.GoldenRelation.__table__), [
            {"type": k, "subject_golden_id": s, "object_golden_id": o, "label": wanted[(k, s, o)], "since": now}
            for k, s, o in add])
    for i in range(0, len(remove), 5000):
        session.execute(delete(m.GoldenRelation).where(
            m.GoldenRelation.id.in_([existing[r] for r in remove[i:i + 5000]])))
    for k, s, o in add:
        events.record(s, "relation_added", relation=k, role="subject", other=o)
        events.record(o, "relation_added", relation=k, role="object", other=s)
    for k, s, o in remove:
        events.record(s, "relation_removed", relation=k, role="subject", other=o)
        events.record(o, "relation_removed", relation=k, role="object", other=s)
    return len(add), len(remove)


def _store_matching_state(session: Session, outcome: MatchingOutcome, run_id: int | None) -> None:
    """Stored edges and feature hashes, so the next run can score only what changed."""
    version = outcome.model.version
    if outcome.model_is_new:
        session.execute(update(m.MatchingModel).values(active=False))
        session.add(m.MatchingModel(version=version, settings_fingerprint=outcome.model.fingerprint,
                                    document=outcome.model.to_document(), active=True))
    changed = sorted(outcome.changed_ids)
    current = set(outcome.record_ids)
    if outcome.full:
        session.execute(delete(m.MatchEdge))
        session.execute(delete(m.MatchState))
    else:
        stale = changed + sorted(outcome.deleted_ids)
        for i in range(0, len(stale), 5000):
            chunk = stale[i:i + 5000]
            session.execute(delete(m.MatchEdge).where(m.MatchEdge.left_record_id.in_(chunk)))
            session.execute(delete(m.MatchEdge).where(m.MatchEdge.right_record_id.in_(chunk)))
            session.execute(delete(m.MatchState).where(m.MatchState.source_record_id.in_(chunk)))
    states = [{"source_record_id": rid, "feature_hash": outcome.feature_hashes[rid], "model_version": version}
              for rid in (outcome.record_ids if outcome.full else changed) if rid in current]
    with indexes_deferred(session, ("match_edge", "match_state")):  # emptied by a full run
        for i in range(0, len(outcome.new_edges), 5000):
            # Explanations are built 5,000 at a time: all at once would hold gigabytes.
            session.execute(insert(m.MatchEdge.__table__), [
                {"left_record_id": p.left, "right_record_id": p.right, "match_weight": p.match_weight,
                 "match_probability": p.match_probability, "explanation": p.explanation,
                 "model_version": version, "run_id": run_id} for p in outcome.new_edges[i:i + 5000]])
        for i in range(0, len(states), 5000):
            session.execute(insert(m.MatchState.__table__), states[i:i + 5000])
