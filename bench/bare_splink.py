"""The baseline: bare Splink deduplicating the same records with a standard model.

Records are flattened to one table straight from the exports (the connectors
parse the files; nothing is standardised beyond lower-casing), then: load,
train (prior from HETU, u by random sampling, EM), predict, cluster at 0.5.
Run as ``python -m bench.bare_splink DEMO_DIR OUT.csv``; writes the clusters.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path

import pandas as pd
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from connectors import make_connector
from mdm._typing import SourceRecordIn
from mdm.config import load_config


def flatten(demo: Path) -> pd.DataFrame:
    config = load_config(demo / "mdm.toml")
    rows = []
    for source in config.sources:
        for rec in make_connector(source["name"], source, config.base_dir).read(None):
            if not isinstance(rec, SourceRecordIn):
                continue
            name = rec.names[0] if rec.names else None
            ids = {i.type: i.value for i in reversed(rec.identifiers)}
            addr = rec.addresses[0] if rec.addresses else None
            low = lambda v: v.strip().lower() if v else None  # noqa: E731
            rows.append({
                "unique_id": f"{source['name']}|{rec.source_id}",
                "first_name": low((name.given or "").split(" ")[0]) if name else None,
                "surname": low(name.family) if name else None,
                "dob": rec.birth_date,
                "hetu": low(ids.get("hetu")),
                "phone": (ids.get("phone") or "").replace(" ", "").replace("-", "") or None,
                "email": low(ids.get("email")),
                "street": low(addr.street) if addr else None,
                "postcode": addr.postal_code if addr else None,
            })
    return pd.DataFrame(rows)


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.NameComparison("first_name"),
            cl.NameComparison("surname"),
            cl.DateOfBirthComparison("dob", input_is_string=True),
            cl.ExactMatch("hetu"),
            cl.ExactMatch("phone"),
            cl.EmailComparison("email"),
            cl.LevenshteinAtThresholds("street", 2),
            cl.ExactMatch("postcode").configure(term_frequency_adjustments=True),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("hetu"), block_on("dob"), block_on("first_name", "surname"), block_on("phone"),
            block_on("email"), block_on("postcode", "surname"),
        ],
    )


def main(demo: Path, out: Path) -> None:
    t = time.monotonic()
    frame = flatten(demo)
    load_s = time.monotonic() - t
    db = DuckDBAPI()
    # The same DuckDB memory cap as the reconcile under test (beyond it DuckDB spills to disk).
    limit = os.environ.get("MDM_BENCH_MEMORY_LIMIT")
    if limit:
        db.duckdb_con.execute("SET memory_limit = ?", [limit])
    linker = Linker(db.register(frame), settings(), log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match([block_on("hetu")], recall=0.7)
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("dob"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("first_name", "surname"))
    pred = linker.inference.predict(threshold_match_probability=0.5)
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(pred, 0.5)
    result = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    result.to_csv(out, index=False)
    print(f"bare splink: {len(frame)} records, load {load_s:.1f} s, total {time.monotonic() - t:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
