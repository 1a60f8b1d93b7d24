"""Scoring pairs: all against all (full run) or changed records against all (incremental).

Both paths run the same SQL over the same frozen model, so a pair gets the same
weight whichever path scored it; that is what makes an incremental run end in
the same clusters as a full one.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np
import pandas as pd
import pyarrow as pa

from .backends import MatchingBackend
from .model import TrainedModel
from .settings import comparisons

PAIR_COLUMNS = ["left", "right", "match_weight", "match_probability", "explanation"]


def prior_weight(model: TrainedModel) -> float:
    lam = model.parameters["probability_two_random_records_match"]
    return math.log2(lam / (1 - lam))


class Explanations:
    """Per pair: the prior and, per comparison, the level's label and its weight (tf included).

    Kept as two arrays (level, weight; a row per pair, a column per comparison); a pair's dict is built
    only when asked for (``table[i]``). A million pairs as dicts would take gigabytes,
    and a nightly run looks at few of them.
    """

    def __init__(self, pred: pd.DataFrame, model: TrainedModel) -> None:
        # In the settings' order: a model stored as PostgreSQL JSONB comes back with its keys re-ordered.
        stored = model.parameters["comparisons"]
        order = [c.create_output_column_name() for c in comparisons("duckdb")]
        comps = {name: stored[name] for name in order if name in stored}
        self.prior = round(prior_weight(model), 3)
        self.names = list(comps)
        # Per comparison its labels by gamma (gamma counts down from the first level).
        self.labels = [[lv["label"] for lv in reversed(levels)] for levels in comps.values()]
        n = len(pred)
        # One row per pair, so a pair's explanation is two ``tolist`` calls, not two numpy
        # scalar reads per comparison (a full run explains every link it writes).
        self.gamma = np.empty((n, len(comps)), dtype=np.int16)
        self.weight = np.empty((n, len(comps)), dtype=np.float64)
        for j, name in enumerate(comps):
            self.gamma[:, j] = pred[f"gamma_{name}"].to_numpy().astype(np.int16)
            weight = pred[f"mw_{name}"].to_numpy(dtype="float64")
            tf_col = f"mw_tf_adj_{name}"
            if tf_col in pred.columns:
                weight = weight + pred[tf_col].fillna(0.0).to_numpy(dtype="float64")
            self.weight[:, j] = np.round(weight, 3)

    def __len__(self) -> int:
        return len(self.gamma)

    def __getitem__(self, i: int) -> dict[str, Any]:
        items = [[name, labels[g] if g >= 0 else "no data", w] for name, labels, g, w
                 in zip(self.names, self.labels, self.gamma[i].tolist(), self.weight[i].tolist())]
        return {"prior": self.prior, "comparisons": items}


class LazyExplanation:
    """One pair's explanation, built from its :class:`Explanations` table when needed."""

    __slots__ = ("table", "index")

    def __init__(self, table: Explanations, index: int) -> None:
        self.table, self.index = table, index

    def get(self) -> dict[str, Any]:
        return self.table[self.index]


def _explain(pred: pd.DataFrame, model: TrainedModel) -> list[dict[str, Any]]:
    table = Explanations(pred, model)
    return [table[i] for i in range(len(pred))]


def _wanted(column: str) -> bool:
    return column in ("unique_id_l", "unique_id_r", "match_weight", "match_probability") or \
        column.startswith(("gamma_", "mw_"))


def _result(backend: MatchingBackend, table: Any) -> pd.DataFrame:
    """What scoring keeps of a Splink predict table; the table is dropped afterwards."""
    try:
        return backend.fetch(table, _wanted)
    finally:
        table.drop_table_from_database_and_remove_from_cache()


def _finish(pred: pd.DataFrame, model: TrainedModel, floor: float, lazy: bool = False) -> pd.DataFrame:
    """Pairs (left < right) with probability >= ``floor``; ``lazy``: explanations as
    :class:`LazyExplanation` (call ``get()``) instead of dicts."""
    pred = pred[(pred["unique_id_l"] != pred["unique_id_r"]) & (pred["match_probability"] >= floor)].copy()
    left = pred[["unique_id_l", "unique_id_r"]].min(axis=1).astype("int64")
    right = pred[["unique_id_l", "unique_id_r"]].max(axis=1).astype("int64")
    pred["left"], pred["right"] = left, right
    # A pair of two changed records is found from both sides; keep one.
    pred = pred.drop_duplicates(["left", "right"]).sort_values(["left", "right"], kind="stable")
    pred = pred.reset_index(drop=True)
    pred["match_weight"] = pred["match_weight"].astype("float64").round(6)
    pred["match_probability"] = pred["match_probability"].astype("float64").round(9)
    if not len(pred):
        pred["explanation"] = []
    elif lazy:
        table = Explanations(pred, model)
        pred["explanation"] = [LazyExplanation(table, i) for i in range(len(pred))]
    else:
        pred["explanation"] = _explain(pred, model)
    return pred[PAIR_COLUMNS]


def score_all(model: TrainedModel, backend: MatchingBackend, frame: pd.DataFrame | pa.Table,
              floor: float) -> pd.DataFrame:
    """Every blocked pair of the table (pandas, or Arrow for DuckDB) with match probability >= ``floor``."""
    records = backend.register(frame, "records")
    linker = model.linker(backend, records)
    pred = linker.inference.predict(threshold_match_probability=floor, warning_mode="never")
    return _finish(_result(backend, pred), model, floor, lazy=True)


def score_changed(model: TrainedModel, backend: MatchingBackend, frame: pd.DataFrame,
                  changed_ids: Iterable[int], floor: float) -> pd.DataFrame:
    """Blocked pairs with at least one record among ``changed_ids``."""
    ids = set(changed_ids)
    changed = frame[frame["unique_id"].isin(ids)]
    if changed.empty:
        return pd.DataFrame(columns=PAIR_COLUMNS)
    records = backend.register(frame, "records")
    new = backend.register(changed, "changed_records")
    linker = model.linker(backend, records)
    pred = linker.inference.predict_between(new, records, threshold_match_probability=floor,
                                            warning_mode="never")
    return _finish(_result(backend, pred), model, floor, lazy=True)


def score_one(model: TrainedModel, backend: MatchingBackend, candidate: pd.DataFrame,
              frame: pd.DataFrame, floor: float) -> pd.DataFrame:
    """Match-on-entry: one new record (not stored) against the given records."""
    records = backend.register(frame, "records")
    new = backend.register(candidate, "entry")
    linker = model.linker(backend, records)
    pred = linker.inference.predict_between(new, records, threshold_match_probability=floor,
                                            warning_mode="never")
    return _finish(_result(backend, pred), model, floor)
