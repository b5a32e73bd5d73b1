"""What one date's marts read: the lake (hot ∪ cold, exactly once) over the trailing window, read once, and
the dimensions (merchants and categories whole, customers only those the window names)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import names
from paylake.archive.query import spark_views
from paylake.kpi import transforms
from paylake.kpi.reads import customer_rows
from paylake.kpi.rules import DEFAULT_RULES
from paylake.settings import Settings
from paylake.spark import read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Above this many distinct customers the whole dimension is read with the connector: by-id lookups cost
# ~0.1 ms each on FerretDB (chunks of kpi.reads.CUSTOMER_CHUNK), a full read of a million ~40 s.
CUSTOMERS_BY_ID_MAX = 200_000


@dataclass(frozen=True)
class Inputs:
    day: date
    start: datetime  # the date's event-time range [start, end)
    end: datetime
    lake: DataFrame  # hot ∪ cold from min(window, lookback) to end, lake column names, checkpointed
    merchants: DataFrame
    categories: DataFrame
    customers: DataFrame  # rows of kpi.transforms.customer_schema, for the customers the lake names

    def between(self, start: datetime, end: datetime | None = None) -> DataFrame:
        from pyspark.sql import functions as F

        end = end or self.end
        return self.lake.where((F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end)))

    @property
    def fact(self) -> DataFrame:
        """The date's transactions, exactly once."""
        return self.between(self.start)


def day_range(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), UTC)
    return start, start + timedelta(days=1)


def read_inputs(spark: SparkSession, settings: Settings, db: Database[Any], day: date) -> Inputs:
    """One read of the lake for ``day``'s marts: the trailing window of ``settings.marts_window_days``
    (customer segments), which covers the rules' lookback before midnight too."""
    from pyspark.sql import functions as F

    start, end = day_range(day)
    first = min(end - timedelta(days=settings.marts_window_days), start - timedelta(minutes=DEFAULT_RULES.lookback_min))
    lake, _ = spark_views(spark, settings, first, end)
    # Checkpoints, never cache(): a cached plan is matched by its text, and the next build of the same date
    # (same filters) would read the rows cached by this one.
    lake = lake.localCheckpoint(eager=False)
    ids = sorted(r[0] for r in lake.where(F.col("customer_id").isNotNull()).select("customer_id").distinct().collect())
    return Inputs(day, start, end, lake,
                  read_mongo(spark, settings, names.MERCHANTS, transforms.merchant_schema()).localCheckpoint(),
                  read_mongo(spark, settings, names.CATEGORIES, transforms.category_schema()).localCheckpoint(),
                  _customers(spark, settings, db, ids))


def _customers(spark: SparkSession, settings: Settings, db: Database[Any], ids: list[str]) -> DataFrame:
    schema = transforms.customer_schema()
    if len(ids) > CUSTOMERS_BY_ID_MAX:
        return read_mongo(spark, settings, names.CUSTOMERS, schema).localCheckpoint()
    return spark.createDataFrame(customer_rows(db, ids), schema)
