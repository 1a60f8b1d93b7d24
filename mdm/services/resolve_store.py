"""Storing a resolved record (``POST /api/v1/resolve`` with ``persist``), in the caller's transaction.

The record becomes a source record of the client's source, stored exactly as
a pull stores it (:func:`mdm.services.pull.upsert_record`), then, by band:

* ``auto``: linked to the golden record at once (link kind ``auto``, or
  ``rule`` when the same valid HETU decided), with its score and explanation,
  and a ``record_linked`` history/change event; nothing else is recomputed;
* ``review``: a review task for each golden record in the review band (the
  pair ordered left < right, the batch's band and reason words), the record
  left unlinked;
* ``none``: a new golden record (id seeded like the reconciliation's,
  attributes by survivorship) with a ``created`` event.

A record whose source id is already stored and linked keeps its link (the
nightly run re-evaluates it). Its feature row is written to ``match_feature``
so the next match-on-entry finds it; the next reconciliation treats the
record like any other (it has no ``match_state`` yet) and rewrites that row.
Golden writes are serialised with reconciliations and steward actions
(:func:`mdm.services.golden.lock_golden_writes`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from sqlalchemy import delete, insert, select, tuple_
from sqlalchemy.orm import Session

from mdm._typing import SourceRecordIn
from rules.survivorship import load_survivorship, survive

from ..store import models as m
from .events import EventRecorder
from .golden import identifier_set, lock_golden_writes
from .golden_ids import mint_id
from .pull import upsert_record
from .resolve import _HAS, MF, Resolution

API_CONNECTOR = "api"  # connector word of a source known only through the API
MAX_REVIEW_TASKS = 3


@dataclass
class Persisted:
    source_record_id: int
    status: str  # as a pull says: new | changed | undeleted | unchanged
    action: str  # linked | review | created | kept
    golden_id: str | None
    review_tasks: int = 0


def _source(s: Session, name: str) -> m.SourceSystem:
    system = s.scalars(select(m.SourceSystem).where(m.SourceSystem.name == name)).first()
    if system is None:
        system = m.SourceSystem(name=name, connector=API_CONNECTOR, purpose="records stored by match-on-entry")
        s.add(system)
        s.flush()
    return system


def store_feature_row(s: Session, record_id: int, source: str, features: Mapping[str, Any]) -> None:
    """The record's feature row, as a reconciliation's ``store_features`` writes it."""
    feat = {**features, "unique_id": record_id, "source_dataset": source}
    row = {"source_record_id": record_id, "features": feat}
    for column in ("hetu_any", "birth_date", "first_given", "surname", "phone_block", "email_block",
                   "other_id", "postcode", "address_block"):
        if column in _HAS:
            row[column] = feat.get(column)
    if "street_prefix" in _HAS:
        row["street_prefix"] = feat["street"][:10] if feat.get("street") else None
    s.execute(delete(MF).where(MF.source_record_id == record_id))
    s.execute(insert(MF), [row])


def _review_tasks(s: Session, record_id: int, res: Resolution) -> int:
    wanted = {}
    for x in [x for x in res.matches if x.band == "review"][:MAX_REVIEW_TASKS]:
        pair = (min(record_id, x.record_id), max(record_id, x.record_id))
        wanted.setdefault(pair, x)
    if not wanted:
        return 0
    open_ = set(s.execute(select(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id).where(
        m.ReviewTask.status == "open",
        tuple_(m.ReviewTask.left_record_id, m.ReviewTask.right_record_id).in_(list(wanted)))).all())
    rows = []
    now = m.utcnow()
    for (a, b), x in sorted(wanted.items()):
        if (a, b) in open_:
            continue
        conflict = x.rule is not None
        rows.append({"left_record_id": a, "right_record_id": b, "score": x.probability,
                     "match_weight": x.match_weight, "band": "conflict" if conflict else "review",
                     "reason": "conflict_different_hetu" if conflict else "review_band",
                     "explanation": x.explanation, "status": "open", "created_at": now, "run_id": None})
    if rows:
        s.execute(insert(m.ReviewTask), rows)
    return len(rows)


def persist(s: Session, rec: SourceRecordIn, res: Resolution, *, source: str, actor: str) -> Persisted:
    """Store ``rec`` as a record of ``source`` and act on its band (see the module docstring)."""
    lock_golden_writes(s)
    rid, status = upsert_record(s, _source(s, source), rec, std=res.standardised)
    if status != "unchanged":
        store_feature_row(s, rid, source, res.features)
    linked = s.scalar(select(m.GoldenLink.golden_id).where(m.GoldenLink.source_record_id == rid))
    if linked is not None:
        return Persisted(rid, status, "kept", linked)
    events = EventRecorder(s, None, actor)
    now = m.utcnow()
    best = res.best
    if res.band == "auto" and best is not None:
        kind = "rule" if best.rule else "auto"
        explanation = {"rule": best.rule, **best.explanation} if best.rule else best.explanation
        s.execute(insert(m.GoldenLink), [{"source_record_id": rid, "golden_id": best.golden_id, "kind": kind,
                                          "score": best.probability, "explanation": explanation, "since": now,
                                          "run_id": None}])
        events.record(best.golden_id, "record_linked", link_kind=kind, reason="resolve", source=source,
                      source_record_id=rid)
        out = Persisted(rid, status, "linked", best.golden_id)
    elif res.band == "review":
        out = Persisted(rid, status, "review", None, _review_tasks(s, rid, res))
    else:
        gid = mint_id(f"record:{rid}",
                      lambda c: s.scalar(select(m.GoldenRecord.id).where(m.GoldenRecord.id == c)) is not None)
        updated = rec.updated_at.isoformat() if rec.updated_at else None
        attrs = survive([(rid, source, res.standardised, updated)], load_survivorship())
        s.execute(insert(m.GoldenRecord), [{
            "id": gid, "kind": "person", "status": "active", "attributes": attrs,
            "identifier_set": sorted(identifier_set(res.standardised)), "created_at": now, "updated_at": now,
            "created_run_id": None}])
        s.execute(insert(m.GoldenLink), [{"source_record_id": rid, "golden_id": gid, "kind": "auto",
                                          "score": None, "explanation": None, "since": now, "run_id": None}])
        events.record(gid, "created", records=1, reason="resolve")
        out = Persisted(rid, status, "created", gid)
    events.flush()
    return out
