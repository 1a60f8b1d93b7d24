"""One abstract backend API for Splink, with a subclass per backend.

The rest of matching only asks a backend for its SQL dialect, a Splink
``db_api`` and to register a pandas frame; DuckDB is the default, Spark runs
the same settings (built for its dialect) when ``[matching] backend = "spark"``.
"""
from __future__ import annotations

import abc
import itertools
import shutil
import tempfile
from typing import Any, Callable, Mapping

import pandas as pd

from mdm.errors import ConfigError

_names = itertools.count(1)


class MatchingBackend(abc.ABC):
    dialect: str

    @property
    @abc.abstractmethod
    def db_api(self) -> Any: ...

    def register(self, frame: pd.DataFrame, name: str) -> Any:
        """Register a frame under a name unique to this backend instance."""
        return self.db_api.register(self._prepare(frame), dataset_display_name=f"{name}_{next(_names)}")

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame

    def fetch(self, table: Any, keep: Callable[[str], bool]) -> pd.DataFrame:
        """The columns of a Splink result table that ``keep`` accepts, as pandas."""
        frame = table.as_pandas_dataframe()
        return frame[[c for c in frame.columns if keep(c)]]

    def close(self) -> None:  # pragma: no cover - nothing to release by default
        pass


class DuckDBBackend(MatchingBackend):
    dialect = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str | None = None) -> None:
        from splink import DuckDBAPI

        self._api = DuckDBAPI()
        con = self._api.duckdb_con
        if threads:
            con.execute(f"SET threads TO {int(threads)}")
        if memory_limit:
            con.execute("SET memory_limit = ?", [str(memory_limit)])
        # Big blocks spill to disk instead of failing.
        self._spill = tempfile.mkdtemp(prefix="mdm-duckdb-")
        con.execute("SET temp_directory = ?", [self._spill])

    @property
    def db_api(self) -> Any:
        return self._api

    def fetch(self, table: Any, keep: Callable[[str], bool]) -> pd.DataFrame:
        # Only the wanted columns leave DuckDB: a predict table also holds both records'
        # inputs (name lists and all), several times the memory of what scoring keeps.
        con = self._api.duckdb_con
        names = [row[0] for row in con.execute(f"DESCRIBE {table.physical_name}").fetchall()]
        columns = ", ".join('"' + n.replace('"', '""') + '"' for n in names if keep(n))
        return con.execute(f"SELECT {columns} FROM {table.physical_name}").df()

    def close(self) -> None:
        self._api.duckdb_con.close()
        shutil.rmtree(self._spill, ignore_errors=True)


class SparkBackend(MatchingBackend):
    """Splink on a Spark session (local mode unless ``spark_master`` says otherwise)."""

    dialect = "spark"

    def __init__(self, master: str = "local[2]", partitions: int = 8) -> None:
        try:
            from pyspark.sql import SparkSession
            from splink.backends.spark import SparkAPI, similarity_jar_location
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ConfigError(
                "[matching] backend = \"spark\" needs the spark extra: pip install 'pat-mdm[spark]'"
            ) from exc
        self._checkpoints = tempfile.mkdtemp(prefix="mdm-spark-")
        self.spark = (
            SparkSession.builder.master(master)
            .appName("pat-mdm")
            # Splink's Scala UDFs (jaro_winkler, ...) live in this jar.
            .config("spark.jars", similarity_jar_location())
            .config("spark.sql.shuffle.partitions", str(partitions))
            .config("spark.ui.enabled", "false")
            .getOrCreate()
        )
        self.spark.sparkContext.setCheckpointDir(self._checkpoints)
        self.spark.sparkContext.setLogLevel("ERROR")
        self._api = SparkAPI(spark_session=self.spark)

    @property
    def db_api(self) -> Any:
        return self._api

    def _prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        # Spark cannot infer a type from pandas' nullable Int64 with missing values.
        out = frame.copy()
        for col in out.columns:
            if str(out[col].dtype) == "Int64":
                out[col] = out[col].astype("float64")
        return out

    def close(self) -> None:
        shutil.rmtree(self._checkpoints, ignore_errors=True)


def make_backend(options: Mapping[str, Any]) -> MatchingBackend:
    name = options.get("backend", "duckdb")
    if name == "duckdb":
        return DuckDBBackend(threads=options.get("threads"), memory_limit=options.get("memory_limit"))
    if name == "spark":
        return SparkBackend(master=options.get("spark_master", "local[2]"),
                            partitions=int(options.get("spark_partitions", 8)))
    raise ConfigError(f"[matching] backend must be \"duckdb\" or \"spark\", not {name!r}")
