"""What a KPI refresh reads: the new rows and their customers on the driver (pymongo, handed to Spark as
Arrow), the small dimensions on Spark (the MongoDB connector), kept between a loop's refreshes (recent.py)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import arrow_rows, inflight, names, schema
from paylake.kpi import lookback, rules, transforms
from paylake.kpi.customers import KnownCustomers
from paylake.kpi.recent import LoopCache
from paylake.mongo import find_by_ids, match_pipeline
from paylake.settings import Settings
from paylake.spark import read_mongo

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

# Customer ids per $in. FerretDB serves the list from the _id index (up to 30,000 bound values, under
# SQLite's 32,766) but then re-checks each returned document against the whole list, linearly. Most of a
# fetch is decoding each document (~30 us), which no chunk size changes: 90,565 of 500,000 customers cost
# FerretDB 3.0 s of CPU in chunks of 100, 3.6 s in chunks of 1,000, 7.7 s of 5,000, 21.5 s of 20,000 (README,
# KPI figures). Chunks of 100 leave the list check ~2 % of it, so a hashed check in FerretDB would gain no more.
CUSTOMER_CHUNK = 100

def upper_bound(db: Database[Any], settings: Settings, until: datetime | None) -> datetime | None:
    """A range's inclusive upper ingest time: ``until`` minus the allowed lateness (None: everything present),
    kept below every insert still in flight (paylake/inflight.py), whose stamps may be partly visible. Take
    ``until`` from the clock before calling: the in-flight entries must be read after it."""
    limit = until - timedelta(seconds=settings.kpi_lateness_s) if until is not None else None
    return inflight.settled(db, limit, settings.ingest_fence_max_s)


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
    """``hot_read``'s $match (ingest times in (after, upper]) as the connector's JSON pipeline, for a Spark
    read of the same range (bench/kpi.py, the range patch's tests); the job itself reads it with pymongo."""
    match = ingest_range(after, upper)
    return match_pipeline(match) if match else None


@dataclass(frozen=True)
class HotRead:
    """One read of the hot store on the driver: every row with an ingest time in (since, target], as Arrow,
    and what the refresh needs to know of its new part (after the watermark) before Spark sees it."""

    table: pa.Table  # schema.spark_schema(mongo=True) columns
    upper: datetime | None  # the largest new ingest time; None when nothing is new
    customer_ids: list[str]  # the new rows' distinct customers, sorted


def read_since(cache: LoopCache, lower: datetime | None, lookback_min: int) -> datetime | None:
    """Where a refresh's read starts: at the watermark when the loop keeps the lookback rows, else a lookback
    before it (None: from the start, the first refresh ever)."""
    if lower is None or cache.rows.holding:
        return lower
    return lower - timedelta(minutes=lookback_min)


def hot_read(db: Database[Any], since: datetime | None, lower: datetime | None, target: datetime | None) -> HotRead:
    """Rows ingested in (since, target], read once with pymongo (a ``$match`` on ``ingest_time``, the
    connector's own pipeline, index-served; the lookback part before ``lower`` projected to
    ``LOOKBACK_FIELDS``) and handed to Spark as Arrow (``spark_rows``). Reading once on the
    driver replaces a probe of the range followed by the connector's read of it: FerretDB decodes every
    document whole on each read, and the connector's appended ``$project`` cost it as much again. The range's
    upper bound is the largest ingest time of the rows read, so Spark counts exactly what fixed it."""
    transactions = db[names.TRANSACTIONS]
    if since == lower:
        return hot_read_of(transactions.aggregate([{"$match": ingest_range(since, target)}]), None)
    # A loop's first refresh also reads the lookback: up to the whole hot store (an hour of stream; at 3,000
    # tx/s the hundreds of thousands of rows since the last archive run), of which the rules need six fields.
    # Projected, FerretDB decodes only those (projection-pushdown.patch) and so does the client; the other
    # columns of those rows are null.
    lookback = transactions.find(ingest_range(since, lower), dict.fromkeys(rules.LOOKBACK_FIELDS, 1))
    new = transactions.aggregate([{"$match": ingest_range(lower, target)}])
    return hot_read_of(chain(lookback, new), lower)


def hot_read_of(docs: Iterable[dict[str, Any]], lower: datetime | None) -> HotRead:
    """``hot_read`` of documents already queried: the new part is after ``lower`` (None: all of them)."""
    return _read_of(arrow_rows.to_table(docs, schema.spark_schema(mongo=True)), lower)


def _read_of(table: pa.Table, lower: datetime | None) -> HotRead:
    import pyarrow.compute as pc

    new = table if lower is None else table.filter(lookback.after(table, lower))
    if new.num_rows == 0:
        return HotRead(table, None, [])
    ids = pc.unique(pc.drop_null(new["customer_id"])).to_pylist()
    return HotRead(table, pc.max(new["ingest_time"]).as_py(), sorted(ids))


def capped(read: HotRead, lower: datetime | None, max_new: int) -> HotRead:
    """``read`` with at most about ``max_new`` new rows (after ``lower``): the range then ends at the ingest
    time of the ``max_new``-th, all rows up to it kept (ties too), so the next refresh starts there. Every row
    up to that bound was read, so exactly once holds as for any bound; the Spark server holds a refresh's
    rows in its heap (a relation of local data), which a catch-up of a long backlog exhausted (2 GB)."""
    import pyarrow.compute as pc

    table = read.table
    is_new = lookback.after(table, lower) if lower is not None else None
    times = table["ingest_time"] if is_new is None else table.filter(is_new)["ingest_time"]
    if len(times) <= max_new:
        return read
    bound = pc.sort_indices(times)[max_new - 1].as_py()
    cap = times[bound]
    older = pc.less_equal(table["ingest_time"], cap)
    return _read_of(table.filter(older if is_new is None else pc.or_(pc.invert(is_new), older)), lower)


def customer_rows(db: Database[Any], ids: list[str]) -> pa.Table:
    """The customers dimension restricted to ``ids``, as an Arrow table of ``transforms.customer_schema``.

    Fetched with pymongo on the driver in ``$in`` chunks that the ``_id`` index serves (on FerretDB through
    paylake's id-in-pushdown patch): the cost follows the run's new rows, not the dimension's size. The
    connector with one ``$in`` pipeline per chunk took as long (README, KPI figures) but plans a Spark read
    per chunk; here the rows are counted and timed on the driver, where the ids already are.
    """
    fields = transforms.customer_schema()
    docs = find_by_ids(db[names.CUSTOMERS], ids, {f.name: 1 for f in fields.fields}, CUSTOMER_CHUNK)
    return arrow_rows.to_table(docs, fields)


def loop_customers(db: Database[Any], known: KnownCustomers, ids: list[str]) -> tuple[pa.Table, int]:
    """The customers of ``ids`` as ``customer_rows`` gives them, fetching only those the loop has not met yet;
    returns (the rows, how many were fetched now)."""
    missing = known.missing(ids)
    found = customer_rows(db, missing)
    known.add(missing, found)
    return known.take(ids), found.num_rows


def spark_input(cache: LoopCache, lower: datetime | None, read: HotRead, window_min: int) -> pa.Table:
    """What a refresh's Spark action counts and flags, as one Arrow table: the new rows of ``read`` (after
    ``lower``) and those lookback rows of their customers, kept by the loop (lookback.py) or read with
    ``read`` (those before ``lower``), that can change a new row's flag (``lookback.needed``; the velocity
    window is ``window_min``). Other lookback rows stay on the driver."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = read.table
    if lower is None:
        return table
    is_new = lookback.after(table, lower)
    new, context = table.filter(is_new), table.filter(pc.invert(is_new))
    parts = [context.filter(lookback.theirs(context, read.customer_ids))]
    kept = cache.rows.of_customers(read.customer_ids)
    if kept is not None and kept.num_rows:
        parts.append(pa.Table.from_arrays([kept[f.name] if f.name in kept.column_names
                                           else pa.nulls(kept.num_rows, f.type) for f in table.schema],
                                          schema=table.schema))
    return pa.concat_tables([lookback.needed(new, pa.concat_tables(parts), window_min), new])


def spark_rows(spark: SparkSession, table: pa.Table) -> DataFrame:
    """``spark_input`` on Spark, one relation of local data. Every column nullable: Spark refuses a null in a
    required column of local data, where the connector let it through (a document missing its customer_id is
    counted, its customer unknown to the rules)."""
    return spark.createDataFrame(table, schema.spark_schema(mongo=True, nullable=True))


def merchant_dimension(spark: SparkSession, settings: Settings, cache: LoopCache) -> DataFrame:
    """Merchants joined with their categories (``transforms.merchant_dimension``): small, read and joined
    once per loop. (Customers can be a million: the job fetches only those its new rows name; flags are
    decided for new rows only, lookback rows feed windows.)"""
    if cache.merchants is None:
        started = time.monotonic()
        merchants = read_mongo(spark, settings, names.MERCHANTS, transforms.merchant_schema())
        categories = read_mongo(spark, settings, names.CATEGORIES, transforms.category_schema())
        cache.merchants = transforms.merchant_dimension(merchants, categories).localCheckpoint(eager=True)
        log.info("kpi: merchants and categories read on Spark in %.2f s", time.monotonic() - started)
    return cache.merchants
