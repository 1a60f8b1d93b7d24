"""Matching as a service: features from the store, model, scoring, rules, clustering.

Reads the store, computes, and returns everything the golden-record update
needs; it writes nothing itself, so the reconciliation can commit matching
state and golden state in one transaction.
"""
from __future__ import annotations

import hashlib
import sys
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matching import features as F
from matching.backends import MatchingBackend, make_backend
from matching.clustering import ClusterResult, Edge, cluster
from matching.model import TrainedModel, settings_fingerprint, train
from matching.scoring import score_all, score_changed
from rules.identity import MatchRules, load_match_rules, must_link_pairs, strong_value

from ..config import Config
from ..store import Store
from ..store import models as m

log = logging.getLogger(__name__)


@dataclass
class ScoredPair:
    left: int
    right: int
    match_weight: float
    match_probability: float
    explanation: dict[str, Any]
    kind: str = "auto"  # auto | rule | steward


@dataclass
class MatchingOutcome:
    record_ids: list[int]
    sources: dict[int, str]
    clusters: ClusterResult
    pairs: dict[tuple[int, int], ScoredPair]  # every kept pair (review band and above) + rule pairs
    review: list[tuple[ScoredPair, str]]  # (pair, reason) to put before a steward
    model: TrainedModel
    model_is_new: bool
    full: bool
    changed_ids: set[int]
    feature_hashes: dict[int, str]
    new_edges: list[ScoredPair]  # scored this run (to store)
    stale_edge_ids: set[int]  # records whose stored edges are replaced
    rules: MatchRules
    frame: pd.DataFrame | None = None
    timings: dict[str, float] = field(default_factory=dict)


def load_records(session: Session) -> Iterator[tuple[int, str, dict[str, Any], str | None]]:
    """(record id, source name, standardised, updated-at) of every current person record, by id.

    Streamed in chunks: the standardised JSON of a million records is not held at once.
    """
    result = session.execute(
        select(m.SourceRecord.id, m.SourceSystem.name, m.SourceRecord.standardised,
               m.SourceRecord.source_updated_at)
        .join(m.SourceSystem, m.SourceSystem.id == m.SourceRecord.source_system_id)
        .where(m.SourceRecord.deleted_at.is_(None), m.SourceRecord.kind == "person")
        .order_by(m.SourceRecord.id)
        .execution_options(yield_per=5000)
    )
    for r in result:
        yield int(r[0]), sys.intern(r[1]), r[2], r[3].isoformat() if r[3] else None


def _digest_records(session: Session, rules: MatchRules) -> tuple[list[dict[str, Any]], dict[int, str],
                                                                   dict[str, dict[int, str]]]:
    """One pass over the records: feature rows, sources, and each identity rule's values."""
    rows: list[dict[str, Any]] = []
    sources: dict[int, str] = {}
    values: dict[str, dict[int, str]] = {r.name: {} for r in rules.identity_rules}
    for rid, src, std, _updated in load_records(session):
        rows.append(F.record_features(rid, src, std))
        sources[rid] = src
        for rule in rules.identity_rules:
            value = strong_value(std, rule)
            if value:
                values[rule.name][rid] = value
    return rows, sources, values


def feature_hashes(frame: pd.DataFrame) -> dict[int, str]:
    """A hash of each record's matching features, holder counts included."""
    cols = [c for c in F.COLUMNS if c not in ("unique_id", "source_dataset")]
    out = {}
    for row in frame[["unique_id", *cols]].itertuples(index=False, name=None):
        text = json.dumps(row[1:], default=str, ensure_ascii=False)
        out[int(row[0])] = hashlib.md5(text.encode("utf-8")).hexdigest()
    return out


def active_model(session: Session) -> TrainedModel | None:
    row = session.scalars(
        select(m.MatchingModel).where(m.MatchingModel.active.is_(True)).order_by(m.MatchingModel.version.desc())
    ).first()
    return TrainedModel.from_document(row.document) if row else None


def next_model_version(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(m.MatchingModel.version), 0)))) + 1


def _pairs_from_frame(pred: pd.DataFrame) -> list[ScoredPair]:
    return [
        ScoredPair(int(a), int(b), float(w), float(p), e)
        for a, b, w, p, e in zip(pred["left"], pred["right"], pred["match_weight"],
                                 pred["match_probability"], pred["explanation"])
    ]


def steward_constraints(session: Session) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    rows = session.execute(
        select(m.StewardDecision.left_record_id, m.StewardDecision.right_record_id, m.StewardDecision.kind)
        .where(m.StewardDecision.revoked_at.is_(None))
        .order_by(m.StewardDecision.id)
    ).all()
    must = [(a, b) for a, b, k in rows if k == "must_link"]
    cannot = [(a, b) for a, b, k in rows if k == "cannot_link"]
    return must, cannot


def run_matching(
    store: Store,
    config: Config,
    *,
    full: bool = False,
    retrain: bool = False,
    backend: MatchingBackend | None = None,
    progress: Callable[[str], None] | None = None,
) -> MatchingOutcome:
    rules = load_match_rules(config.matching)
    timings: dict[str, float] = {}
    t = time.monotonic()

    def lap(name: str) -> None:
        nonlocal t
        now = time.monotonic()
        timings[name] = round(now - t, 3)
        t = now
        if progress:
            progress(name)

    with store.session() as s:
        feature_rows, sources, identity_values = _digest_records(s, rules)
        model = None if retrain else active_model(s)
        if model is not None and model.fingerprint != settings_fingerprint():
            log.info("the stored model was trained for other comparisons; retraining")
            model = None
        version = next_model_version(s)
        states = dict(s.execute(select(m.MatchState.source_record_id, m.MatchState.feature_hash)).all())
        state_models = set(s.scalars(select(m.MatchState.model_version).distinct()).all())
        stored = s.execute(
            select(m.MatchEdge.left_record_id, m.MatchEdge.right_record_id, m.MatchEdge.match_weight,
                   m.MatchEdge.match_probability, m.MatchEdge.explanation)
        ).all()
        steward_must, steward_cannot = steward_constraints(s)
    lap("load")

    frame = F.frame_from_rows(feature_rows)
    del feature_rows
    hashes = feature_hashes(frame)
    lap("features")

    own_backend = backend is None
    backend = backend or make_backend(config.matching)
    try:
        model_is_new = model is None
        if model is None:
            model = train(frame, backend, version, seed=rules.seed, u_max_pairs=rules.u_max_pairs)
            model.created_at = m.utcnow().isoformat()
            lap("train")
        changed = {rid for rid, h in hashes.items() if states.get(rid) != h}
        full = full or model_is_new or state_models != {model.version} and bool(state_models) or not states
        if full:
            scored = score_all(model, backend, frame, rules.review)
            changed = set(hashes)
        else:
            scored = score_changed(model, backend, frame, changed, rules.review)
        lap("score")
    finally:
        if own_backend:
            backend.close()

    new_edges = _pairs_from_frame(scored)
    current = set(hashes)
    # Stored pairs stay valid while neither record's features changed.
    pairs: dict[tuple[int, int], ScoredPair] = {}
    if not full:
        for a, b, w, p, e in stored:
            if a in current and b in current and a not in changed and b not in changed:
                pairs[(a, b)] = ScoredPair(a, b, w, p, e)
    for pair in new_edges:
        pairs[(pair.left, pair.right)] = pair

    strong: dict[int, str] = {}
    for rule in rules.rules("cannot_link"):
        for rid, value in identity_values[rule.name].items():
            strong.setdefault(rid, f"{rule.name}:{value}")
    rule_pairs = []
    for rule in rules.rules("must_link"):
        for a, b in must_link_pairs(identity_values[rule.name]):
            scored_pair = pairs.get((a, b))
            rule_pairs.append(ScoredPair(
                a, b, scored_pair.match_weight if scored_pair else 0.0,
                scored_pair.match_probability if scored_pair else 1.0,
                {"rule": rule.name, **(scored_pair.explanation if scored_pair else {})}, kind="rule"))
    for pair in rule_pairs:
        pairs[(pair.left, pair.right)] = pair

    edges = [Edge(a, b, 0.0, "steward") for a, b in steward_must if a in current and b in current]
    edges += [Edge(p.left, p.right, p.match_weight, "rule") for p in rule_pairs]
    edges += [Edge(p.left, p.right, p.match_weight, "auto") for p in pairs.values()
              if p.kind == "auto" and p.match_probability >= rules.auto_link]
    result = cluster(sorted(current), edges, steward_cannot, strong)
    lap("cluster")

    decided = {tuple(sorted(p)) for p in steward_must + steward_cannot}
    review: list[tuple[ScoredPair, str]] = []
    for pair in pairs.values():
        if (pair.kind == "auto" and rules.review <= pair.match_probability < rules.auto_link
                and result.clusters[pair.left] != result.clusters[pair.right]
                and (pair.left, pair.right) not in decided):
            review.append((pair, "review_band"))
    for conflict in result.conflicts:
        key = (min(conflict.left, conflict.right), max(conflict.left, conflict.right))
        if key in decided or conflict.kind == "steward":
            continue
        pair = pairs.get(key)
        if pair is not None and result.clusters[key[0]] != result.clusters[key[1]]:
            review.append((pair, f"conflict_{conflict.reason}"))
    review.sort(key=lambda item: (item[0].left, item[0].right))
    lap("review")

    return MatchingOutcome(
        record_ids=sorted(current), sources=sources, clusters=result, pairs=pairs, review=review,
        model=model, model_is_new=model_is_new, full=full, changed_ids=changed, feature_hashes=hashes,
        new_edges=new_edges, stale_edge_ids=changed, rules=rules, frame=frame, timings=timings,
    )


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return None if isinstance(value, float) and value != value else value  # NaN -> None
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy / pandas scalars
        return value.item()
    return None if pd.isna(value) else value


def store_features(session: Session, outcome: MatchingOutcome) -> None:
    """Keep the feature rows of changed records (match-on-entry blocks and scores against them)."""
    from sqlalchemy import delete, insert

    current = set(outcome.record_ids)
    changed = sorted(outcome.changed_ids)
    if outcome.full:
        session.execute(delete(m.MatchFeature))
    else:
        gone = [rid for rid in session.scalars(select(m.MatchFeature.source_record_id)) if rid not in current]
        for i in range(0, len(changed + gone), 5000):
            chunk = (changed + gone)[i:i + 5000]
            session.execute(delete(m.MatchFeature).where(m.MatchFeature.source_record_id.in_(chunk)))
    frame = outcome.frame
    if frame is None or not changed:
        return
    rows = frame[frame["unique_id"].isin(set(changed))]
    columns = list(rows.columns)
    batch = []
    for values in rows.itertuples(index=False, name=None):
        feat = {c: _json_safe(v) for c, v in zip(columns, values)}
        batch.append({
            "source_record_id": int(feat["unique_id"]), "features": feat,
            "hetu_any": feat.get("hetu_any"), "birth_date": feat.get("birth_date"),
            "first_given": feat.get("first_given"), "surname": feat.get("surname"),
            "phone_block": feat.get("phone_block"), "email_block": feat.get("email_block"),
            "other_id": feat.get("other_id"), "postcode": feat.get("postcode"),
        })
        if len(batch) >= 5000:
            session.execute(insert(m.MatchFeature), batch)
            batch = []
    if batch:
        session.execute(insert(m.MatchFeature), batch)
