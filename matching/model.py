"""Training the model without labels, and the versioned JSON document that holds it.

Training: the prior from deterministic rules (the same valid HETU, or the same
birth date and full name), u by random sampling, m by expectation maximisation
in several blocked passes (each pass cannot train the comparisons its blocking
uses). The document keeps only what is independent of the SQL dialect: lambda,
m and u per level, and the term-frequency tables frozen at training time, so
that scoring a pair never depends on which other records are in the batch.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa
import splink
from splink import Linker, block_on

from . import settings as S
from .backends import MatchingBackend

log = logging.getLogger(__name__)

DOCUMENT_FORMAT = "pat-mdm-matching-model/1"
# A level EM never saw keeps this m (rare) rather than an undefined one.
UNOBSERVED_M = 1e-6
#: Deterministic rules for the prior (lambda): near-certain matches.
PRIOR_RULES = (("hetu",), ("other_id",), ("birth_date", "first_given", "surname"))
#: EM passes; each trains the comparisons its blocking columns do not touch.
EM_RULES = (("birth_date",), ("first_given", "surname"), ("hetu",), ("other_id",))
MIN_EM_PAIRS = 200


def blocked_pairs(frame: pd.DataFrame | pa.Table, columns: tuple[str, ...]) -> int:
    """How many pairs blocking on equal ``columns`` (all non-null) would give."""
    if isinstance(frame, pa.Table):
        frame = frame.select(list(columns)).to_pandas()
    sizes = frame.dropna(subset=list(columns)).groupby(list(columns), sort=False).size()
    return int((sizes * (sizes - 1) // 2).sum())


def settings_fingerprint() -> str:
    """Changes whenever the comparisons or blocking change (then the model must be retrained)."""
    structure = S.settings("duckdb").create_settings_dict("duckdb")
    for comp in structure["comparisons"]:
        for level in comp["comparison_levels"]:
            for key in ("m_probability", "u_probability"):
                level.pop(key, None)
    structure.pop("linker_uid", None)
    text = json.dumps(structure, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class TrainedModel:
    version: int
    parameters: dict[str, Any]
    tf_tables: dict[str, dict[str, float]]
    fingerprint: str
    training: dict[str, Any] = field(default_factory=dict)
    created_at: str | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "format": DOCUMENT_FORMAT,
            "version": self.version,
            "created_at": self.created_at,
            "splink_version": splink.__version__,
            "settings_fingerprint": self.fingerprint,
            "parameters": self.parameters,
            "term_frequencies": self.tf_tables,
            "training": self.training,
        }

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> TrainedModel:
        if doc.get("format") != DOCUMENT_FORMAT:
            raise ValueError(f"not a PAT-MDM matching model document: {doc.get('format')!r}")
        return cls(
            version=int(doc["version"]),
            parameters=doc["parameters"],
            tf_tables=doc["term_frequencies"],
            fingerprint=doc["settings_fingerprint"],
            training=doc.get("training", {}),
            created_at=doc.get("created_at"),
        )

    def linker(self, backend: MatchingBackend, records: Any) -> Linker:
        """A linker over registered ``records`` with these parameters and frozen frequencies."""
        creator = S.apply_parameters(S.settings(backend.dialect), self.parameters)
        linker = Linker(records, creator, log_level=logging.ERROR)
        for column, table in self.tf_tables.items():
            frame = pd.DataFrame({column: list(table), f"tf_{column}": list(table.values())})
            linker.table_management.register_term_frequency_lookup(
                backend.register(frame, f"tf_{column}_frozen"), column
            )
        return linker


def _regularise(params: dict[str, Any]) -> None:
    """Keep EM's estimates sane where the data said little.

    A level EM never saw gets a small m (evidence against) and, without a u,
    the same u (no evidence at all). No m goes below ``UNOBSERVED_M``: on small
    or skewed data EM can drive a level's m towards zero, and a weight of -50
    would then outvote even a shared HETU.
    """
    for levels in params["comparisons"].values():
        for level in levels:
            m = level["m"]
            m = UNOBSERVED_M if m is None else max(float(m), UNOBSERVED_M)
            level["m"] = m
            if level["u"] is None:
                level["u"] = m


def train(frame: pd.DataFrame | pa.Table, backend: MatchingBackend, version: int, *, seed: int = 1,
          u_max_pairs: float = 5e6) -> TrainedModel:
    """Train on the whole feature table (pandas, or Arrow for DuckDB); deterministic for a given seed and data."""
    started = time.monotonic()
    records = backend.register(frame, "training_records")
    linker = Linker(records, S.settings(backend.dialect), log_level=logging.ERROR)
    training = linker.training
    training.estimate_probability_two_random_records_match(
        [block_on("hetu"), block_on("birth_date", "first_given", "surname")], recall=0.8
    )
    training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    # Each pass trains the comparisons its blocking does not use.
    em_rules = [cols for cols in EM_RULES if blocked_pairs(frame, cols) >= MIN_EM_PAIRS]
    for cols in em_rules:
        training.estimate_parameters_using_expectation_maximisation(block_on(*cols))
    saved = linker.misc.save_model_to_json(out_path=None)  # None: return the dict, write no file
    params = S.extract_parameters(saved)
    _regularise(params)
    tf_tables: dict[str, dict[str, float]] = {}
    for column in S.TF_COLUMNS:
        tf = linker.table_management.compute_tf_table(column).as_pandas_dataframe()
        tf_tables[column] = {str(v): float(f) for v, f in zip(tf[column], tf[f"tf_{column}"]) if v is not None}
    return TrainedModel(
        version=version,
        parameters=params,
        tf_tables=tf_tables,
        fingerprint=settings_fingerprint(),
        training={"records": int(len(frame)), "seconds": round(time.monotonic() - started, 2),
                  "seed": seed, "u_max_pairs": u_max_pairs, "backend": backend.dialect},
    )

