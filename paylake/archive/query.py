"""SQL over hot ∪ cold: ``transactions`` (every transaction exactly once) and ``archive`` (cold only), and the
published daily marts (``daily_summary``, ``merchant_daily``, ``customer_segments``, ``hourly_patterns``).

Two engines, same views and the same columns (the schema's fields plus ``date``; ``archive`` adds ``batch``):
* ``duckdb`` (default, interactive): the Parquet files are a pyarrow dataset read in place — local files
  or through WebHDFS — with hive partitions ``date``/``batch``, so ``WHERE date …`` prunes whole
  directories; the hot side is read from MongoDB with pymongo into Arrow.
* ``spark``: the same views in Spark SQL, for archives too big for one machine (runs on the cluster).
Exactly once while a batch is in flight (published to cold, not yet deleted from MongoDB): the reads go
manifest → hot → cold, and hot rows whose id is in a cold batch that was not ``complete`` when the manifest
was read are dropped. A batch complete at that moment has no rows left in MongoDB; one published later
is either not listed yet (its rows are still hot) or listed and deduplicated.
``date_from``/``date_to`` (UTC dates, inclusive) prune both sides before any SQL runs.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from paylake import names, schema
from paylake.archive import manifest
from paylake.archive.coldfs import arrow_filesystem
from paylake.mongo import open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyspark.sql import DataFrame, SparkSession

COLUMNS = ", ".join(schema.FIELD_NAMES)


def _event_bounds(date_from: date | None, date_to: date | None) -> dict[str, Any]:
    start, end = day_bounds(date_from, date_to)
    bounds = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
    return {"event_time": bounds} if bounds else {}


def read_hot(
    settings: Settings, date_from: date | None = None, date_to: date | None = None, with_rows: bool = True
) -> tuple[set[str], pa.Table]:
    """The set of complete batch ids (read first), then the hot transactions as an Arrow table with ``date``
    (empty when ``with_rows`` is False: a query that reads only the archive)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    with open_db(settings) as db:
        complete = manifest.complete_ids(db)
        rows = [schema.from_mongo(d) for d in db[names.TRANSACTIONS].find(_event_bounds(date_from, date_to))] \
            if with_rows else []
    table = pa.Table.from_pylist(rows, schema=schema.arrow_schema())
    return complete, table.append_column("date", pc.cast(table["event_time"], pa.date32()))


def cold_dataset(settings: Settings) -> ds.Dataset | None:
    """Every published batch, as one dataset partitioned by ``date`` and ``batch`` (None before the first)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FileType

    fs, root = arrow_filesystem(settings)
    base = f"{root}/{manifest.DATA_DIR}"
    if fs.get_file_info(base).type != FileType.Directory:
        return None
    parts = ds.partitioning(pa.schema([("date", pa.date32()), ("batch", pa.string())]), flavor="hive")
    return ds.dataset(base, filesystem=fs, format="parquet", partitioning=parts, schema=_cold_schema())


def _cold_schema() -> pa.Schema:
    import pyarrow as pa

    return schema.arrow_schema().append(pa.field("date", pa.date32())).append(pa.field("batch", pa.string()))


def connect(
    settings: Settings, date_from: date | None = None, date_to: date | None = None, with_hot: bool = True
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the views ``transactions`` (hot ∪ cold) and ``archive`` (cold); with
    ``with_hot`` False the hot side of ``transactions`` is left empty (for SQL that reads only ``archive``)."""
    import duckdb
    import pyarrow.dataset as ds

    complete, hot = read_hot(settings, date_from, date_to, with_rows=with_hot)
    found = cold_dataset(settings)  # listed after the hot read: see the module docstring
    cold = found or ds.dataset(_cold_schema().empty_table())
    # Batches listed in cold but not complete in the manifest: their rows may still be hot too.
    in_flight = sorted({_batch_of(path) for path in (found.files if found else [])} - complete)
    bounds = [ds.field("date") >= date_from] if date_from else []
    bounds += [ds.field("date") <= date_to] if date_to else []
    for bound in bounds:
        cold = cold.filter(bound)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("hot_arrow", hot)
    # The (date-pruned) cold rows in memory: DuckDB scanning a dataset on a Python filesystem (fsspec WebHDFS)
    # can deadlock, its thread holding the GIL in pyarrow's scanner while an Arrow I/O thread waits for it
    # (seen in bench/marts.py); pyarrow's own to_table releases the GIL. Use --from/--to on big archives.
    con.register("cold_arrow", cold.to_table() if found is not None and settings.cold_is_hdfs else cold)
    con.execute("CREATE TEMP VIEW archive AS SELECT * FROM cold_arrow")
    dedupe = ""
    if in_flight:  # only then is an anti-join needed, and only against those batches' partitions
        listed = ", ".join("'" + b.replace("'", "''") + "'" for b in in_flight)
        dedupe = f"""WHERE transaction_id NOT IN (SELECT transaction_id FROM archive WHERE batch IN ({listed}))"""
    con.execute(
        f"""CREATE TEMP VIEW transactions AS
        SELECT {COLUMNS}, date FROM archive
        UNION ALL
        SELECT {COLUMNS}, date FROM hot_arrow {dedupe}"""
    )
    return con


def _batch_of(path: str) -> str:
    return next(part[len("batch=") :] for part in path.split("/") if part.startswith("batch="))


def run_duckdb(
    settings: Settings, sql: str, date_from: date | None = None, date_to: date | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    import duckdb

    # Parse first: a syntax error fails before any read, and SQL that never names ``transactions`` (the
    # archive alone) skips reading the whole hot store into memory.
    tables = {name.lower() for name in duckdb.connect().get_table_names(sql)}
    con = connect(settings, date_from, date_to, with_hot="transactions" in tables)
    try:
        from paylake.marts import views

        views.register(con, settings, tables)  # the published marts the SQL names, read in place
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description or []]
        return columns, cursor.fetchall()
    finally:
        con.close()


def spark_views(
    spark: SparkSession, settings: Settings, start: datetime | None = None, end: datetime | None = None
) -> tuple[DataFrame, DataFrame]:
    """``transactions`` (hot ∪ cold, each transaction once; the schema's fields plus ``date``) and ``archive``
    (cold, plus ``batch``) with event times in [start, end) (either end open when None), as Spark frames.

    Cold partitions outside the range's dates are never listed for reading (partition pruning); the hot
    side is one ``$match`` on ``event_time`` (its index serves it). See the module docstring for the order.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    from paylake.archive.coldfs import open_cold
    from paylake.mongo import match_pipeline
    from paylake.spark import read_mongo

    with open_db(settings) as db:
        complete = sorted(manifest.complete_ids(db))
    bounds = {k: v for k, v in (("$gte", start), ("$lt", end)) if v is not None}
    pipeline = match_pipeline({"event_time": bounds}) if bounds else None
    # Every field nullable: a document breaking the schema reaches SQL and the marts' gates as it is.
    hot = read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True, nullable=True), pipeline)
    # Materialise the hot side before listing cold (see the module docstring). A checkpoint, not cache():
    # a cached plan is matched by its text, so the next read with the same filter would get these rows.
    hot = hot.withColumnRenamed("_id", "transaction_id").withColumn("date", F.to_date("event_time"))
    hot = hot.localCheckpoint(eager=True)
    cold_fs = open_cold(settings)
    cold_schema = schema.spark_schema(nullable=True).add("date", T.DateType()).add("batch", T.StringType())
    if cold_fs.exists(manifest.DATA_DIR):
        cold = spark.read.schema(cold_schema).parquet(cold_fs.uri(manifest.DATA_DIR))
    else:
        cold = spark.createDataFrame([], cold_schema)
    if start is not None:
        cold = cold.where((F.col("date") >= F.lit(start.date())) & (F.col("event_time") >= F.lit(start)))
    if end is not None:
        last_day = (end - timedelta(microseconds=1)).date()
        cold = cold.where((F.col("date") <= F.lit(last_day)) & (F.col("event_time") < F.lit(end)))
    in_flight = cold.where(~F.col("batch").isin(complete)) if complete else cold
    fresh = hot.join(in_flight.select("transaction_id"), "transaction_id", "left_anti")
    cols = [*schema.FIELD_NAMES, "date"]
    return cold.select(*cols).unionByName(fresh.select(*cols)), cold


def day_bounds(date_from: date | None, date_to: date | None) -> tuple[datetime | None, datetime | None]:
    """The event-time range [start, end) of the UTC dates date_from..date_to (inclusive; None = open)."""
    start = datetime.combine(date_from, time(), UTC) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time(), UTC) if date_to else None
    return start, end


def run_spark(
    spark: SparkSession, settings: Settings, sql: str, date_from: date | None = None, date_to: date | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The same views in Spark SQL; the Parquet files are read by the cluster straight from HDFS."""
    transactions, archive = spark_views(spark, settings, *day_bounds(date_from, date_to))
    archive.createOrReplaceTempView("archive")
    transactions.createOrReplaceTempView("transactions")
    from paylake.archive.coldfs import open_cold
    from paylake.marts.store import MARTS, ROOT

    cold_fs = open_cold(settings)
    for mart in MARTS:
        if cold_fs.exists(f"{ROOT}/{mart}"):
            spark.read.parquet(cold_fs.uri(f"{ROOT}/{mart}")).createOrReplaceTempView(mart)
    result = spark.sql(sql)
    return result.columns, [tuple(r) for r in result.collect()]
