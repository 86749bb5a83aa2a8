"""Where Splink runs: DuckDB in this process (default), or Spark in local mode for the scale-out path."""

from __future__ import annotations

import logging
import os
import tempfile
from typing import Any

import duckdb
import pyarrow as pa  # type: ignore[import-untyped]
from splink import DuckDBAPI
from splink.internals.database_api import DatabaseAPISubClass
from splink.internals.splink_dataframe import SplinkDataFrame

from threadline.core.errors import InputError

ENGINES = ("duckdb", "spark")

__all__ = [
    "ENGINES",
    "DuckDBAPI",
    "duckdb_api",
    "make_api",
    "register",
    "spark_session",
    "to_arrow",
    "work_connection",
]
# DuckDB's own memory for a resolve run; past it, joins and sorts spill to the temp directory. With the Arrow
# tables resolve keeps in Python this holds a million records under the 6 GB the scale benchmark allows.
WORK_MEMORY = "3GB"

# Splink logs every step and every untrained level; Threadline reports its own numbers.
logging.getLogger("splink").setLevel(logging.ERROR)


def work_connection(memory_limit: str | None = WORK_MEMORY, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB for one run: Threadline's own set work, and Splink's when the engine is DuckDB."""
    con = duckdb.connect(":memory:")
    con.execute(f"SET temp_directory = '{tempfile.gettempdir()}/threadline-duckdb'")
    if memory_limit:
        con.execute(f"SET memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    return con


def duckdb_api(memory_limit: str | None = None, threads: int | None = None) -> DuckDBAPI:
    return DuckDBAPI(connection=work_connection(memory_limit, threads))


_SPARK: Any = None


def spark_session() -> Any:
    """A local Spark with Splink's similarity functions (Jaro-Winkler, Damerau-Levenshtein) on its classpath and
    a checkpoint folder; started once per process (the JVM takes a while)."""
    global _SPARK
    if _SPARK is not None:
        return _SPARK
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise InputError(
            "the Spark engine needs pyspark: install Threadline with the spark extra (pip install 'threadline[spark]')"
        ) from None
    from splink.backends.spark import similarity_jar_location

    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
    checkpoints = os.path.join(tempfile.gettempdir(), "threadline-spark-checkpoints")
    spark = (
        SparkSession.builder.master("local[2]")
        .appName("threadline-resolve")
        .config("spark.jars", similarity_jar_location())
        .config("spark.driver.memory", "4g")
        .config("spark.sql.shuffle.partitions", "8")
        .config("spark.default.parallelism", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    spark.sparkContext.setCheckpointDir(checkpoints)
    _SPARK = spark
    return spark


def make_api(engine: str, con: duckdb.DuckDBPyConnection | None = None) -> DatabaseAPISubClass:
    """Splink's backend: DuckDB on `con` (a new connection when none is given), or local Spark."""
    if engine == "duckdb":
        return DuckDBAPI(connection=con) if con is not None else duckdb_api()
    if engine == "spark":
        from splink import SparkAPI

        return SparkAPI(  # type: ignore[no-untyped-call]
            spark_session=spark_session(), break_lineage_method="parquet", num_partitions_on_repartition=8
        )
    raise InputError(f"unknown engine {engine!r}: use one of {', '.join(ENGINES)}")


def register(api: DatabaseAPISubClass, table: pa.Table, name: str) -> SplinkDataFrame:
    """Hand an Arrow table to the engine under `name`."""
    if isinstance(api, DuckDBAPI):
        return api.register(table, table_name=name)
    spark = spark_session()
    frame = spark.createDataFrame(table) if table.num_rows else spark.createDataFrame([], _spark_schema(table))
    return api.register(frame, table_name=name)


def _spark_schema(table: pa.Table) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(table.schema)


def to_arrow(frame: SplinkDataFrame) -> pa.Table:
    """A Splink result as an Arrow table, whichever engine made it."""
    physical = frame.physical_name
    db_api = frame.db_api
    if isinstance(db_api, DuckDBAPI):
        return db_api.duckdb_con.sql(f"SELECT * FROM {physical}").to_arrow_table()
    spark_frame = frame.as_spark_dataframe()
    return spark_frame.toArrow()
