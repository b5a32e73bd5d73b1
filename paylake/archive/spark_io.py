"""The Spark side of archiving: the hot histogram, reading one batch, writing and reading back Parquet.

Timestamps cross the Python boundary as epoch numbers, never as Python datetimes, so the result does not
depend on the driver machine's local time zone.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from paylake import names, schema
from paylake.archive.plan import HourBucket, batch_filter
from paylake.mongo import match_pipeline
from paylake.settings import Settings
from paylake.spark import read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def histogram(spark: SparkSession, settings: Settings, watermark: datetime) -> list[HourBucket]:
    """Hot documents per event-time slice (settings.archive_slice_min), and how many are not counted yet."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    times = T.StructType(
        [
            T.StructField(n, T.TimestampType() if n != "_id" else T.StringType())
            for n in ("_id", "event_time", "ingest_time")
        ]
    )
    pipeline = json.dumps([{"$project": {"event_time": 1, "ingest_time": 1}}])
    hot = read_mongo(spark, settings, names.TRANSACTIONS, times, pipeline)
    slice_s = settings.archive_slice_min * 60
    hour = F.floor(F.unix_timestamp(F.col("event_time")) / slice_s) * slice_s
    uncounted = (F.col("ingest_time").cast("double") > F.lit(watermark.timestamp())).cast("long")
    rows = hot.groupBy(hour.alias("hour")).agg(F.count(F.lit(1)).alias("docs"), F.sum(uncounted).alias("uncounted"))
    return [
        HourBucket(datetime.fromtimestamp(int(r["hour"]), UTC), int(r["docs"]), int(r["uncounted"] or 0))
        for r in rows.collect()
        if r["hour"] is not None
    ]


def read_batch(
    spark: SparkSession, settings: Settings, start: datetime, end: datetime, watermark: datetime
) -> DataFrame:
    pipeline = match_pipeline(batch_filter(start, end, watermark))
    # A batch is bounded (at most one day), so one cursor is enough.
    return read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True), pipeline)


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
