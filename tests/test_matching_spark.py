"""Splink's Spark backend through the same code path gives the same clusters as DuckDB."""
from __future__ import annotations

import shutil

import pytest

from mdm.config import load_config
from mdm.demo_data import generate
from mdm.services.matching import run_matching
from mdm.services.reconcile import reconcile
from mdm.store import Store


def _spark_unavailable() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'pat-mdm[spark]'; CI installs it)"
    if shutil.which("java") is None:
        return "no Java runtime on PATH (Spark needs Java 17)"
    return None


pytestmark = [pytest.mark.spark, pytest.mark.slow]


@pytest.mark.skipif(_spark_unavailable() is not None, reason=_spark_unavailable() or "")
def test_spark_and_duckdb_give_the_same_clusters(tmp_path):
    from matching.backends import DuckDBBackend, SparkBackend

    generate(tmp_path / "demo", persons=150, seed=2)
    store = Store(f"sqlite:///{tmp_path / 'mdm.sqlite'}")
    store.upgrade()
    config = load_config(tmp_path / "demo" / "mdm.toml")
    config.var_dir = tmp_path / "var"
    reconcile(store, config)  # pulls and trains the model (DuckDB)

    duck = run_matching(store, config, full=True, backend=DuckDBBackend(threads=2))
    spark_backend = SparkBackend(master="local[2]", partitions=4)
    try:
        spark = run_matching(store, config, full=True, backend=spark_backend)
    finally:
        spark_backend.close()

    assert duck.model.version == spark.model.version
    assert set(duck.pairs) == set(spark.pairs)
    for key, pair in duck.pairs.items():
        assert spark.pairs[key].match_weight == pytest.approx(pair.match_weight, abs=1e-6)
    partition = lambda out: {frozenset(v) for v in out.clusters.members().values()}  # noqa: E731
    assert partition(duck) == partition(spark)
    store.dispose()
