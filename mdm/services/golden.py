"""Applying a matching outcome to the golden records, in the caller's transaction.

Ids (see :mod:`golden_ids`), surviving attributes with provenance, links,
identifier sets, relations lifted to golden records, review tasks and the
matching state all change together; every golden change is recorded in the
history and the change feed. Nothing is written for what did not change, so
a run on unchanged data leaves no trace.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from rules.survivorship import load_survivorship, survive

from ..store import models as m
from .events import EventRecorder, masked_attribute, masked_identifier
from .golden_ids import assign, mint_id
from .matching import MatchingOutcome
from .review import sync_review_tasks

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


def identifier_set(std: dict[str, Any]) -> set[str]:
    return {f"{i['type']}:{i['value']}" for i in std.get("identifiers") or () if i.get("value")}


def _best_edges(outcome: MatchingOutcome) -> dict[int, tuple[str, float | None, dict[str, Any] | None]]:
    """Per record, the strongest edge that put it in its cluster: (kind, score, explanation)."""
    best: dict[int, tuple[tuple[int, float], str, float | None, dict[str, Any] | None]] = {}
    for (a, b), edge in outcome.clusters.edges_used.items():
        pair = outcome.pairs.get((a, b))
        score = pair.match_probability if pair else None
        explanation = pair.explanation if pair else {"steward": True}
        rank = (KIND_RANK.get(edge.kind, 3), -edge.weight)
        for rid in (a, b):
            if rid not in best or rank < best[rid][0]:
                best[rid] = (rank, edge.kind, score, explanation)
    return {rid: (kind, score, expl) for rid, (_r, kind, score, expl) in best.items()}


def apply_matching(session: Session, outcome: MatchingOutcome, run_id: int | None,
                   actor: str = "reconcile") -> GoldenReport:
    report = GoldenReport()
    events = EventRecorder(session, run_id, actor)
    now = m.utcnow()

    links = dict(session.execute(select(m.GoldenLink.source_record_id, m.GoldenLink.golden_id)).all())
    link_rows = {r.source_record_id: r for r in session.execute(
        select(m.GoldenLink.source_record_id, m.GoldenLink.golden_id, m.GoldenLink.kind, m.GoldenLink.score))}
    all_ids = set(session.scalars(select(m.GoldenRecord.id)).all())
    active_rows = {r.id: r for r in session.execute(
        select(m.GoldenRecord.id, m.GoldenRecord.attributes, m.GoldenRecord.identifier_set)
        .where(m.GoldenRecord.status == "active"))}
    overrides: dict[str, dict[str, Any]] = {}
    for gid, attr, value in session.execute(
            select(m.AttributeOverride.golden_id, m.AttributeOverride.attribute, m.AttributeOverride.value)
            .where(m.AttributeOverride.removed_at.is_(None)).order_by(m.AttributeOverride.id)):
        overrides.setdefault(gid, {})[attr] = value

    members = outcome.clusters.members()
    ids = assign(members, links, set(active_rows))
    final: dict[int, str] = {}
    for key in sorted(members):
        kept = ids.golden_of[key]
        if kept is None:
            kept = mint_id(f"record:{members[key][0]}", lambda c: c in all_ids)
            all_ids.add(kept)
        final[key] = kept

    rules = load_survivorship()
    new_goldens, changed_goldens = [], []
    splits: dict[str, list[str]] = {}
    for key, recs in members.items():
        gid = final[key]
        attrs = survive(((r, outcome.sources[r], outcome.standardised[r], outcome.updated_at[r]) for r in recs),
                        rules, overrides.get(gid))
        idents = set()
        for r in recs:
            idents |= identifier_set(outcome.standardised[r])
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
        old = active_rows[gid]
        changed = False
        for attr in sorted(set(attrs) | set(old.attributes or {})):
            before, after = (old.attributes or {}).get(attr), attrs.get(attr)
            if not _same(before, after):
                if not _same((before or {}).get("value"), (after or {}).get("value")):
                    events.record(gid, "attribute_changed", attribute=attr,
                                  old=masked_attribute(attr, (before or {}).get("value")),
                                  new=masked_attribute(attr, (after or {}).get("value")),
                                  source=(after or {}).get("source"), rule=(after or {}).get("rule"))
                changed = True
        old_idents = set(old.identifier_set or [])
        for entry in sorted(idents - old_idents):
            events.record(gid, "identifier_added", identifier=masked_identifier(entry))
        for entry in sorted(old_idents - idents):
            events.record(gid, "identifier_removed", identifier=masked_identifier(entry))
        if changed or idents != old_idents:
            changed_goldens.append({"b_id": gid, "attributes": attrs, "identifier_set": ident_list,
                                    "updated_at": now})
            report.updated += 1

    for origin, parts in sorted(splits.items()):
        events.record(origin, "split", new_golden_ids=sorted(parts))
        report.split += 1
    if new_goldens:
        session.execute(insert(m.GoldenRecord), new_goldens)
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
        events.record(old_id, "merged", into=survivor)
        events.record(survivor, "absorbed", golden_id_merged=old_id)
        report.merged += 1
    for old_id in sorted(ids.retired):
        session.execute(update(m.GoldenRecord).where(m.GoldenRecord.id == old_id)
                        .values(status="retired", updated_at=now))
        events.record(old_id, "retired")
        report.retired += 1

    report.links_changed = _sync_links(session, outcome, final, members, link_rows, run_id, now)
    added, removed = _sync_relations(session, events, now)
    report.relations_added, report.relations_removed = added, removed
    report.review_opened, report.review_closed = sync_review_tasks(session, outcome, run_id)
    _store_matching_state(session, outcome, run_id)
    events.flush()
    report.history_rows = events.count
    return report


def _sync_links(session: Session, outcome: MatchingOutcome, final: dict[int, str],
                members: dict[int, list[int]], link_rows: dict[int, Any], run_id: int | None, now: Any) -> int:
    best = _best_edges(outcome)
    inserts, updates = [], []
    for key, recs in members.items():
        gid = final[key]
        for rid in recs:
            kind, score, explanation = best.get(rid, ("auto", None, None))
            old = link_rows.get(rid)
            if old is None:
                inserts.append({"source_record_id": rid, "golden_id": gid, "kind": kind, "score": score,
                                "explanation": explanation, "since": now, "run_id": run_id})
            elif old.golden_id != gid or old.kind != kind or old.score != score:
                updates.append({"b_rid": rid, "golden_id": gid, "kind": kind, "score": score,
                                "explanation": explanation,
                                "since": now if old.golden_id != gid else None, "run_id": run_id})
    if inserts:
        session.execute(insert(m.GoldenLink), inserts)
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
    return len(inserts) + len(updates) + len(gone)


def _sync_relations(session: Session, events: EventRecorder, now: Any) -> tuple[int, int]:
    """Lift source relations whose both ends are linked; diff against the stored golden relations."""
    subj, obj = aliased(m.GoldenLink), aliased(m.GoldenLink)
    wanted: dict[tuple[str, str, str], str | None] = {}
    for kind, sg, og, label in session.execute(
            select(m.SourceRelation.type, subj.golden_id, obj.golden_id, m.SourceRelation.label)
            .join(subj, subj.source_record_id == m.SourceRelation.subject_record_id)
            .join(obj, obj.source_record_id == m.SourceRelation.object_record_id)
            .order_by(m.SourceRelation.id)):
        if sg != og:
            wanted.setdefault((kind, sg, og), label)
    existing = {(r.type, r.subject_golden_id, r.object_golden_id): r.id
                for r in session.execute(select(m.GoldenRelation.id, m.GoldenRelation.type,
                                                m.GoldenRelation.subject_golden_id,
                                                m.GoldenRelation.object_golden_id))}
    add = sorted(set(wanted) - set(existing))
    remove = sorted(set(existing) - set(wanted))
    if add:
        session.execute(insert(m.GoldenRelation), [
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
        stale = changed + [rid for rid in session.scalars(select(m.MatchState.source_record_id))
                           if rid not in current]
        for i in range(0, len(stale), 5000):
            chunk = stale[i:i + 5000]
            session.execute(delete(m.MatchEdge).where(m.MatchEdge.left_record_id.in_(chunk)))
            session.execute(delete(m.MatchEdge).where(m.MatchEdge.right_record_id.in_(chunk)))
            session.execute(delete(m.MatchState).where(m.MatchState.source_record_id.in_(chunk)))
    edges = [{"left_record_id": p.left, "right_record_id": p.right, "match_weight": p.match_weight,
              "match_probability": p.match_probability, "explanation": p.explanation,
              "model_version": version, "run_id": run_id} for p in outcome.new_edges]
    for i in range(0, len(edges), 5000):
        session.execute(insert(m.MatchEdge), edges[i:i + 5000])
    states = [{"source_record_id": rid, "feature_hash": outcome.feature_hashes[rid], "model_version": version}
              for rid in (outcome.record_ids if outcome.full else changed) if rid in current]
    for i in range(0, len(states), 5000):
        session.execute(insert(m.MatchState), states[i:i + 5000])
