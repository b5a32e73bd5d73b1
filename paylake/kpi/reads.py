"""What a KPI refresh reads: the range probe and the customers on the driver (pymongo), the new rows and
the small dimensions on Spark (the MongoDB connector), kept between a loop's refreshes (recent.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import names, schema
from paylake.kpi import transforms
from paylake.kpi.recent import LoopCache
from paylake.mongo import find_by_ids, match_pipeline
from paylake.settings import Settings
from paylake.spark import doc_row, read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# Customer ids per $in. FerretDB serves the list from the _id index (up to 30,000 bound values, under
# SQLite's 32,766) but then re-checks each returned document against the whole list, linearly: 10,000 of a
# million customers took 1.5-2.0 s in chunks of 5,000, 0.9-1.35 s in chunks of 1,000 (README, KPI figures).
CUSTOMER_CHUNK = 1_000

def ingest_range(after: datetime | None, upper: datetime | None) -> dict[str, Any]:
    """The filter of ingest times in (after, upper] (either end open when None); the ingest_time index
    serves it."""
    bounds: dict[str, Any] = {}
    if after is not None:
        bounds["$gt"] = after
    if upper is not None:
        bounds["$lte"] = upper
    return {"ingest_time": bounds} if bounds else {}


def hot_pipeline(after: datetime | None, upper: datetime | None) -> str | None:
    """The $match the connector pushes down to MongoDB for ingest times in (after, upper]."""
    match = ingest_range(after, upper)
    return match_pipeline(match) if match else None


def new_range(db: Database[Any], after: datetime | None, target: datetime | None) -> tuple[datetime | None, list[str]]:
    """The largest ingest time in (after, target] (None when nothing is there) and the distinct customer ids
    of those transactions, sorted: a probe on the driver (two fields per new document, served by the
    ingest_time index) that fixes the range before Spark reads it, so a refresh is one Spark action (each
    costs the server 0.1-0.5 s of CPU, whatever its size). A document landing inside the range after the
    probe (the lateness makes that rare) is still counted exactly once, its customer unknown to the rules."""
    upper, ids = None, set()
    for doc in db[names.TRANSACTIONS].find(ingest_range(after, target), {"_id": 0, "customer_id": 1, "ingest_time": 1}):
        stamp = doc.get("ingest_time")
        if isinstance(stamp, datetime) and (upper is None or stamp > upper):
            upper = stamp
        if isinstance(doc.get("customer_id"), str):
            ids.add(doc["customer_id"])
    return upper, sorted(ids)


def customer_rows(db: Database[Any], ids: list[str]) -> list[tuple[Any, ...]]:
    """The customers dimension restricted to ``ids``, as rows of ``transforms.customer_schema``.

    Fetched with pymongo on the driver in ``$in`` chunks that the ``_id`` index serves (on FerretDB through
    paylake's id-in-pushdown patch): the cost follows the run's new rows, not the dimension's size. The
    connector with one ``$in`` pipeline per chunk took as long (README, KPI figures) but plans a Spark read
    per chunk; here the rows are counted and timed on the driver, where the ids already are.
    """
    fields = transforms.customer_schema()
    docs = find_by_ids(db[names.CUSTOMERS], ids, {f.name: 1 for f in fields.fields}, CUSTOMER_CHUNK)
    return [doc_row(d, fields) for d in docs]


def hot_rows(spark: SparkSession, settings: Settings, cache: LoopCache, lower: datetime | None,
              target: datetime, lookback_min: int) -> tuple[DataFrame, DataFrame]:
    """The new range plus a lookback of counted rows for the rule windows: read whole, or only the new
    range on top of the rows a loop kept from its previous refresh. Returns (all rows, the new read). The
    read is a lazy checkpoint: the refresh's one action reads MongoDB and keeps the rows on the server, and
    the next refreshes find them there (a loop's lookback) without reading MongoDB again."""
    cache.rows.release()  # the previous refresh's frames are gone: free what it replaced

    def read(after: datetime | None) -> DataFrame:
        frame = read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True),
                           hot_pipeline(after, target)).localCheckpoint(eager=False)
        return cache.rows.hold(frame)

    kept = cache.rows.frame if lower is not None else None
    if kept is not None:
        fresh = read(lower)
        return kept.unionByName(fresh), fresh
    fresh = read(lower - timedelta(minutes=lookback_min) if lower else None)
    return fresh, fresh


def merchant_dimension(spark: SparkSession, settings: Settings, cache: LoopCache) -> DataFrame:
    """Merchants joined with their categories (``transforms.merchant_dimension``): small, read and joined
    once per loop. (Customers can be a million: the job fetches only those its new rows name; flags are
    decided for new rows only, lookback rows feed windows.)"""
    if cache.merchants is None:
        merchants = read_mongo(spark, settings, names.MERCHANTS, transforms.merchant_schema())
        categories = read_mongo(spark, settings, names.CATEGORIES, transforms.category_schema())
        cache.merchants = transforms.merchant_dimension(merchants, categories).localCheckpoint(eager=True)
    return cache.merchants
