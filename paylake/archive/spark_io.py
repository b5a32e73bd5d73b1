"""The Spark side of archiving: one read for a run's batches, writing and reading back Parquet.

Timestamps cross the Python boundary as epoch numbers, never as Python datetimes, so the result does not
depend on the driver machine's local time zone.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from paylake import names, schema
from paylake.archive.plan import batch_filter
from paylake.mongo import match_pipeline
from paylake.settings import Settings
from paylake.spark import read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def read_range(
    spark: SparkSession, settings: Settings, start: datetime, end: datetime, watermark: datetime
) -> DataFrame:
    """The hot documents of ``plan.batch_filter(start, end, watermark)``, every column, in one cursor: one read
    for all the batches of a run (persist it; ``batch_rows`` takes each batch from it).

    A read per batch cost more on FerretDB, which pushes down only the lower bound of a date range: each
    batch's read decoded every document from its start to the end of the collection. MongoDB serves the
    range from the ``event_time`` index either way.
    """
    pipeline = match_pipeline(batch_filter(start, end, watermark))
    return read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True), pipeline)


def _micros(at: datetime) -> int:
    """Exact epoch microseconds (no float: a watermark's milliseconds must compare exactly)."""
    return (at.astimezone(UTC) - EPOCH) // timedelta(microseconds=1)


def batch_rows(hot: DataFrame, start: datetime, end: datetime, watermark: datetime) -> DataFrame:
    """The rows of ``hot`` (``read_range``) that ``plan.batch_filter(start, end, watermark)`` selects in MongoDB:
    event time in [start, end), ingest time <= watermark, compared as exact epoch microseconds; a null never
    matches."""
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
