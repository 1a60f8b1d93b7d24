"""Matching as a service: features from the store, model, scoring, rules, clustering.

Reads the store, computes, and returns everything the golden-record update
needs; it writes nothing itself, so the reconciliation can commit matching
state and golden state in one transaction.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
import pyarrow as pa
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from matching import features as F
from matching.backends import MatchingBackend, make_backend
from matching.clustering import ClusterResult, Edge, cluster, components_containing
from matching.model import TrainedModel, settings_fingerprint, train
from matching.scoring import LazyExplanation, score_all, score_changed
from rules.identity import MatchRules, load_match_rules, must_link_pairs

from ..config import Config
from ..store import Store
from ..store import models as m
from ..store.bulk import indexes_deferred
from . import match_cache
from .match_inputs import read_full

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ScoredPair:
    left: int
    right: int
    match_weight: float
    match_probability: float
    # A dict, or a LazyExplanation built into one when read (see matching.scoring.Explanations).
    explanation_source: Any
    kind: str = "auto"  # auto | rule | steward

    @property
    def explanation(self) -> dict[str, Any]:
        source = self.explanation_source
        return source.get() if isinstance(source, LazyExplanation) else source


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
    # Records clustered this run; None = all. Outside it, clusters, links and review
    # tasks stay as stored (they cannot have changed: see run_matching).
    scope: set[int] | None = None
    touched: set[int] | None = None  # records pulled as changed since the last good run, if known
    deleted_ids: set[int] = field(default_factory=set)  # matched last time, not current now
    identity_values: dict[str, dict[int, str]] = field(default_factory=dict)
    decisions: dict[int, bool] = field(default_factory=dict)  # steward decision id -> revoked?


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


def _decisions(session: Session) -> dict[int, bool]:
    """Steward decision id -> revoked?"""
    return {int(i): r is not None for i, r in session.execute(
        select(m.StewardDecision.id, m.StewardDecision.revoked_at))}


def _decision_seeds(session: Session, now: dict[int, bool], then: dict[int, bool]) -> set[int]:
    """Records of steward decisions made or revoked since the snapshot."""
    ids = [i for i, revoked in now.items() if then.get(i) != revoked]
    out: set[int] = set()
    for i in range(0, len(ids), 5000):
        for a, b in session.execute(select(m.StewardDecision.left_record_id, m.StewardDecision.right_record_id)
                                    .where(m.StewardDecision.id.in_(ids[i:i + 5000]))):
            out.update((int(a), int(b)))
    return out


def _stored_edge_arrays(session: Session) -> dict[str, np.ndarray]:
    """Every stored pair as columns (no explanations: most of them are not needed)."""
    # The driver's own cursor: a million Row objects would cost more than the query.
    cursor = session.connection().connection.cursor()
    try:
        cursor.execute("SELECT left_record_id, right_record_id, match_weight, match_probability FROM match_edge")
        arr = np.array(cursor.fetchall(), dtype=np.float64).reshape(-1, 4)
    finally:
        cursor.close()
    return {"left": arr[:, 0].astype(np.int64), "right": arr[:, 1].astype(np.int64),
            "weight": arr[:, 2], "probability": arr[:, 3]}


def _explanations(session: Session, keys: list[tuple[int, int]]) -> dict[tuple[int, int], dict[str, Any]]:
    wanted = set(keys)
    lefts = sorted({a for a, _b in keys})
    out: dict[tuple[int, int], dict[str, Any]] = {}
    for i in range(0, len(lefts), 5000):
        for a, b, e in session.execute(
                select(m.MatchEdge.left_record_id, m.MatchEdge.right_record_id, m.MatchEdge.explanation)
                .where(m.MatchEdge.left_record_id.in_(lefts[i:i + 5000]))):
            if (a, b) in wanted:
                out[(int(a), int(b))] = e
    return out


def _rule_pairs(rules: MatchRules, values: dict[str, dict[int, str]],
                only: set[int] | None = None) -> list[tuple[str, int, int]]:
    """Identity-rule must-link pairs; ``only``: of the groups holding one of these records."""
    out = []
    for rule in rules.rules("must_link"):
        held = values.get(rule.name, {})
        if only is not None:
            wanted = {held[r] for r in only if r in held}
            held = {r: v for r, v in held.items() if v in wanted}
        out.extend((rule.name, a, b) for a, b in must_link_pairs(held))
    return out


def run_matching(
    store: Store,
    config: Config,
    *,
    full: bool = False,
    retrain: bool = False,
    backend: MatchingBackend | None = None,
    progress: Callable[[str], None] | None = None,
) -> MatchingOutcome:
    """Match the current records.

    Incremental when it can be: with the last successful run's snapshot
    (:mod:`match_cache`), only records changed since are read and scored, and
    only the graph components that hold a change are clustered again (the
    outcome's ``scope``); everything else stays as that run left it.
    """
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

    update_: match_cache.Update | None = None
    snapshot = None
    features: pd.DataFrame | pa.Table | None = None
    with store.session() as s:
        model = None if retrain else active_model(s)
        if model is not None and model.fingerprint != settings_fingerprint():
            log.info("the stored model was trained for other comparisons; retraining")
            model = None
        version = next_model_version(s)
        decisions = _decisions(s)
        steward_must, steward_cannot = steward_constraints(s)
        if not full and model is not None:
            snapshot = match_cache.load(config.var_dir, match_cache.last_successful_run(s), model.version, rules)
        if snapshot is not None:
            update_ = match_cache.apply_changes(s, snapshot, rules)
            sources, identity_values = update_.sources, update_.identity_values
            states, state_models = snapshot.hashes, {model.version}
            edges = _stored_edge_arrays(s)
            seeds = _decision_seeds(s, decisions, snapshot.decisions)
            stored: list[Any] = []
        else:
            states = dict(s.execute(select(m.MatchState.source_record_id, m.MatchState.feature_hash)).all())
            state_models = set(s.scalars(select(m.MatchState.model_version).distinct()).all())
            stored = s.execute(
                select(m.MatchEdge.left_record_id, m.MatchEdge.right_record_id, m.MatchEdge.match_weight,
                       m.MatchEdge.match_probability, m.MatchEdge.explanation)
            ).all()
    if update_ is None:
        # Its own transactions: none is left open while a child process reads the records.
        features, hashes, sources, identity_values = read_full(store, config.matching, rules, config.var_dir)
    lap("load")

    frame: pd.DataFrame | None
    table: pa.Table | None = None
    if update_ is not None:
        frame, hashes = update_.frame, update_.hashes
    elif isinstance(features, pa.Table):
        frame, table = None, features
    else:
        frame = features
    del features
    lap("features")

    own_backend = backend is None
    backend = backend or make_backend(config.matching)
    try:
        model_is_new = model is None
        full = full or model is None or state_models != {model.version} and bool(state_models) or not states
        if full and backend.dialect == "duckdb":
            # DuckDB reads the features as Arrow: a third of the pandas frame's memory, scanned
            # without converting Python objects. The frame is rebuilt after scoring.
            if table is None:
                table, frame = F.frame_to_arrow(frame), None
                lap("to_arrow")
            inputs: pd.DataFrame | pa.Table = table
        else:
            if frame is None:
                frame = F.frame_from_arrow(table)
            inputs = frame
        if model is None:
            model = train(inputs, backend, version, seed=rules.seed, u_max_pairs=rules.u_max_pairs)
            model.created_at = m.utcnow().isoformat()
            lap("train")
        changed = {rid for rid, h in hashes.items() if states.get(rid) != h}
        if full:
            scored = score_all(model, backend, inputs, rules.review)
            changed = set(hashes)
        else:
            scored = score_changed(model, backend, frame, changed, rules.review)
        lap("score")
    finally:
        if own_backend:
            backend.close()
    if frame is None:
        frame = F.frame_from_arrow(table)
        lap("from_arrow")
    del inputs, table

    new_edges = _pairs_from_frame(scored)
    current = set(hashes)
    pairs: dict[tuple[int, int], ScoredPair] = {}
    scope: set[int] | None = None
    deleted: set[int]
    if update_ is not None and not full:
        deleted = update_.deleted
        all_rule_pairs = _rule_pairs(rules, identity_values)
        scope = _scope(edges, changed | deleted, seeds | changed | update_.touched, new_edges, all_rule_pairs,
                       _rule_pairs(rules, update_.old_identity_values, update_.touched), steward_must, current)
        # Stored pairs stay valid while neither record's features changed.
        changed_arr = np.fromiter(changed | deleted, dtype=np.int64)
        keep = (~np.isin(edges["left"], changed_arr) & ~np.isin(edges["right"], changed_arr)
                & np.isin(edges["left"], np.fromiter(scope, dtype=np.int64)))
        keys = list(zip(edges["left"][keep].tolist(), edges["right"][keep].tolist()))
        with store.session() as s:
            explained = _explanations(s, keys)
        for (a, b), w, p in zip(keys, edges["weight"][keep].tolist(), edges["probability"][keep].tolist()):
            pairs[(a, b)] = ScoredPair(a, b, w, p, explained.get((a, b), {}))
        for pair in new_edges:
            if pair.left in scope:
                pairs[(pair.left, pair.right)] = pair
    else:
        deleted = set(states) - current if not full else set()
        if not full:
            for a, b, w, p, e in stored:
                if a in current and b in current and a not in changed and b not in changed:
                    pairs[(a, b)] = ScoredPair(a, b, w, p, e)
        for pair in new_edges:
            pairs[(pair.left, pair.right)] = pair

    in_scope = (lambda rid: True) if scope is None else scope.__contains__
    strong: dict[int, str] = {}
    for rule in rules.rules("cannot_link"):
        for rid, value in identity_values[rule.name].items():
            if in_scope(rid):
                strong.setdefault(rid, f"{rule.name}:{value}")
    rule_pairs = []
    for name, a, b in (all_rule_pairs if scope is not None else _rule_pairs(rules, identity_values)):
        if not in_scope(a):
            continue
        scored_pair = pairs.get((a, b))
        rule_pairs.append(ScoredPair(
            a, b, scored_pair.match_weight if scored_pair else 0.0,
            scored_pair.match_probability if scored_pair else 1.0,
            {"rule": name, **(scored_pair.explanation if scored_pair else {})}, kind="rule"))
    for pair in rule_pairs:
        pairs[(pair.left, pair.right)] = pair

    nodes = sorted(current) if scope is None else sorted(scope)
    edges_ = [Edge(a, b, 0.0, "steward") for a, b in steward_must if a in current and b in current and in_scope(a)]
    edges_ += [Edge(p.left, p.right, p.match_weight, "rule") for p in rule_pairs]
    edges_ += [Edge(p.left, p.right, p.match_weight, "auto") for p in pairs.values()
               if p.kind == "auto" and p.match_probability >= rules.auto_link]
    result = cluster(nodes, edges_, steward_cannot, strong)
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
        scope=scope, touched=update_.touched if update_ is not None else None, deleted_ids=deleted,
        identity_values=identity_values, decisions=decisions,
    )


def _scope(edges: dict[str, np.ndarray], changed: set[int], seeds: set[int], new_edges: list[ScoredPair],
           rule_pairs: list[tuple[str, int, int]], old_rule_pairs: list[tuple[str, int, int]],
           steward_must: list[tuple[int, int]], current: set[int]) -> set[int]:
    """The records to cluster again: every component, before or after this run's changes, that
    holds a change. Any other component has exactly the edges it had, so it clusters as before.

    ``old_rule_pairs`` are the last run's rule pairs of the groups that held a changed
    record; its other groups are unchanged, so they are among ``rule_pairs``.
    """
    rule_l = np.array([a for _n, a, _b in rule_pairs], dtype=np.int64)
    rule_r = np.array([b for _n, _a, b in rule_pairs], dtype=np.int64)
    must_l = np.array([a for a, _b in steward_must], dtype=np.int64)
    must_r = np.array([b for _a, b in steward_must], dtype=np.int64)
    before = components_containing(
        np.concatenate([edges["left"], rule_l, np.array([a for _n, a, _b in old_rule_pairs], dtype=np.int64),
                        must_l]),
        np.concatenate([edges["right"], rule_r, np.array([b for _n, _a, b in old_rule_pairs], dtype=np.int64),
                        must_r]),
        seeds)
    changed_arr = np.fromiter(changed, dtype=np.int64)
    unchanged = ~np.isin(edges["left"], changed_arr) & ~np.isin(edges["right"], changed_arr)
    after = components_containing(
        np.concatenate([edges["left"][unchanged], np.array([p.left for p in new_edges], dtype=np.int64),
                        rule_l, must_l]),
        np.concatenate([edges["right"][unchanged], np.array([p.right for p in new_edges], dtype=np.int64),
                        rule_r, must_r]),
        before)
    return after & current


def _json_safe(value: Any) -> Any:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, float):
        return None if value != value else value  # NaN -> None
    if isinstance(value, (list, tuple)):
        return list(value)
    if hasattr(value, "item"):  # numpy / pandas scalars
        return value.item()
    return None if pd.isna(value) else value


def store_features(session: Session, outcome: MatchingOutcome) -> None:
    """Keep the feature rows of changed records (match-on-entry blocks and scores against them)."""
    from sqlalchemy import delete

    changed = sorted(outcome.changed_ids)
    if outcome.full:
        session.execute(delete(m.MatchFeature))
    else:
        gone = sorted(outcome.deleted_ids)
        for i in range(0, len(changed + gone), 5000):
            chunk = (changed + gone)[i:i + 5000]
            session.execute(delete(m.MatchFeature).where(m.MatchFeature.source_record_id.in_(chunk)))
    frame = outcome.frame
    if frame is None or not changed:
        return
    rows = frame[frame["unique_id"].isin(set(changed))]
    # Column by column (``tolist`` gives Python values), not a conversion per cell: a full
    # run writes a row per record.
    values = [[_json_safe(v) for v in rows[c].tolist()] if rows[c].dtype != object else rows[c].tolist()
              for c in rows.columns]
    columns = list(rows.columns)
    with indexes_deferred(session, ("match_feature",)):  # emptied by a full run
        _insert_features(session, columns, values)


def _insert_features(session: Session, columns: list[str], values: list[list[Any]]) -> None:
    from sqlalchemy import insert

    batch = []
    for row in zip(*values):
        feat = dict(zip(columns, row))
        batch.append({
            "source_record_id": int(feat["unique_id"]), "features": feat,
            "hetu_any": feat.get("hetu_any"), "birth_date": feat.get("birth_date"),
            "first_given": feat.get("first_given"), "surname": feat.get("surname"),
            "phone_block": feat.get("phone_block"), "email_block": feat.get("email_block"),
            "other_id": feat.get("other_id"), "postcode": feat.get("postcode"),
        })
        if len(batch) >= 5000:
            session.execute(insert(m.MatchFeature.__table__), batch)
            batch = []
    if batch:
        session.execute(insert(m.MatchFeature.__table__), batch)
