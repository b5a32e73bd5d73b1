"""The Spark side of archiving: one read of the hot store, its histogram and batches, writing and reading back
Parquet.

Timestamps cross the Python boundary as epoch numbers, never as Python datetimes, so the result does not
depend on the driver machine's local time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from paylake import names, schema
from paylake.archive.plan import HourBucket
from paylake.settings import Settings
from paylake.spark import read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_hot(spark: SparkSession, settings: Settings) -> DataFrame:
    """Every hot transaction, every column, in one cursor: the run's only read of MongoDB (persist it).

    The histogram and each batch are computed from it. FerretDB reads a document by decoding it whole
    (a projection does not help) and pushes down only the lower bound of a date range, so the former
    histogram read decoded every document and each batch's read everything above its start again: 37 of
    51 s of a run that moved 93,750 of 100,000 documents.
    """
    return read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True))


def _micros(at: datetime) -> int:
    """Exact epoch microseconds (no float: a watermark's milliseconds must compare exactly)."""
    return (at.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


def histogram(hot: DataFrame, slice_min: int, watermark: datetime) -> list[HourBucket]:
    """Hot documents per event-time slice of ``slice_min`` minutes, and how many are not counted yet."""
    from pyspark.sql import functions as F

    slice_s = slice_min * 60
    hour = F.floor(F.unix_timestamp(F.col("event_time")) / slice_s) * slice_s
    uncounted = (F.unix_micros(F.col("ingest_time")) > F.lit(_micros(watermark))).cast("long")
    rows = hot.groupBy(hour.alias("hour")).agg(F.count(F.lit(1)).alias("docs"), F.sum(uncounted).alias("uncounted"))
    return [
        HourBucket(datetime.fromtimestamp(int(r["hour"]), UTC), int(r["docs"]), int(r["uncounted"] or 0))
        for r in rows.collect()
        if r["hour"] is not None
    ]


def batch_rows(hot: DataFrame, start: datetime, end: datetime, watermark: datetime) -> DataFrame:
    """The rows of ``hot`` that ``plan.batch_filter(start, end, watermark)`` selects in MongoDB: event time in
    [start, end), ingest time <= watermark, compared as exact epoch microseconds; a null never matches."""
    from pyspark.sql import functions as F

    event, ingest = F.unix_micros(F.col("event_time")), F.unix_micros(F.col("ingest_time"))
    return hot.where(
        (event >= F.lit(_micros(start))) & (event < F.lit(_micros(end))) & (ingest <= F.lit(_micros(watermark)))
    )


def write_parquet(hot: DataFrame, uri: str) -> None:
    """Parquet (zstd, millisecond timestamps: spark.py), partitioned by UTC date, one sorted file per date.

    A batch holds at most one date and a few hundred MB at most, so one file keeps row groups large
    (small row groups make queries slow) and sorting by event time makes the min/max statistics prune.
    """
    from pyspark.sql import functions as F

    out = hot.withColumnRenamed("_id", "transaction_id").select(
        *schema.FIELD_NAMES, F.date_format("event_time", "yyyy-MM-dd").alias("date")
    )
    out.coalesce(1).sortWithinPartitions("event_time").write.mode("overwrite").partitionBy("date").parquet(uri)


def ids(df: DataFrame, column: str) -> list[str]:
    return [r[0] for r in df.select(column).collect()]


def read_ids(spark: SparkSession, uri: str) -> list[str]:
    """The transaction ids stored under ``uri`` (a directory of Parquet files), read back from cold storage."""
    return ids(spark.read.parquet(uri), "transaction_id")
