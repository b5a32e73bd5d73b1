"""One KPI refresh: new hot data → flags, alerts, minute buckets → watermark → Redis snapshot.

Exactly-once, step by step (the watermark W means "every transaction with ingest_time <= W is counted"):
  1. range: (W, upper] with upper = ``until`` - allowed lateness (the DAG passes its interval end), or the
     largest ingest_time present when ``until`` is None; then clamped to the largest ingest_time present
     (``new_range``), so a document that lands later beyond it is still ahead of the watermark.
  2. the range and a run id are recorded as ``pending`` in kpi_state before anything is written;
  3. alerts are inserted by transaction id (a re-run skips stored ones); buckets are merged, each skipping
     a run id it already has; the all-time totals take the run's delta unless they hold it (totals.py);
  4. the watermark moves to ``upper`` and ``pending`` is cleared in one atomic document update;
  5. the snapshot is rebuilt from the last 24 h of buckets and the totals, and swapped into Redis.
A crash anywhere before 4 leaves ``pending``: the next run redoes the same range with the same run id.
A crash after 4 (e.g. Redis down) loses nothing: the next run republishes from the buckets.
The data is chosen by ingest time from the stores, never by the wall clock.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.database import Database

from paylake import faults, indexes, names, schema
from paylake.errors import ServiceError
from paylake.jobs import KPI_REFRESH
from paylake.kpi import alerts, buckets, publisher, rules, state, totals, transforms
from paylake.kpi.headline import floor_slot
from paylake.kpi.recent import LoopCache
from paylake.lock import LockBusy, job_lock
from paylake.mongo import BULK_CHUNK, find_by_ids, match_pipeline
from paylake.settings import Settings
from paylake.spark import doc_row, read_mongo

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
# Customer ids per $in. FerretDB serves the list from the _id index (up to 30,000 bound values, under
# SQLite's 32,766) but then re-checks each returned document against the whole list, linearly: 10,000 of a
# million customers took 1.5-2.0 s in chunks of 5,000, 0.9-1.35 s in chunks of 1,000 (README, KPI figures).
CUSTOMER_CHUNK = 1_000
# Events this far before a refresh's range end are also counted per slot: later windows of the last 60 s
# (which end at a later watermark) then find every event they hold in the slots.
SLOTTED = timedelta(minutes=2)


class KpiBusyError(ServiceError):
    """Another refresh holds the KPI lock; this one did nothing."""


@dataclass(frozen=True)
class RefreshResult:
    run_id: str | None  # None when there was nothing new
    resumed: bool  # redid a run that had crashed before advancing the watermark
    lower: datetime | None  # exclusive lower ingest-time bound (the previous watermark)
    watermark: datetime | None  # the watermark after the run
    new_count: int  # transactions counted by this run
    buckets_applied: int
    new_alerts: int
    snapshot_version: str | None
    seconds: float
    customers_read: int = 0  # documents of the customers dimension the run fetched (its new rows' customers)
    customers_seconds: float = 0.0  # time spent collecting their ids and fetching them

    def summary(self) -> str:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}
        return json.dumps(data)


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


@dataclass(frozen=True)
class _Request:
    until: datetime | None
    config: rules.RuleConfig
    cache: LoopCache
    started: float


def _hot_rows(spark: SparkSession, settings: Settings, cache: LoopCache, lower: datetime | None,
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


def _dimensions(spark: SparkSession, settings: Settings, cache: LoopCache) -> tuple[DataFrame, DataFrame]:
    """Merchants and categories: small, read whole once per loop. (Customers can be a million: the job
    fetches only those its new rows name; flags are decided for new rows only, lookback rows feed windows.)"""
    if cache.dims is None:
        cache.dims = (
            read_mongo(spark, settings, names.MERCHANTS, transforms.merchant_schema()).localCheckpoint(eager=True),
            read_mongo(spark, settings, names.CATEGORIES, transforms.category_schema()).localCheckpoint(eager=True),
        )
    return cache.dims


def run_refresh(
    spark: SparkSession,
    settings: Settings,
    until: datetime | None = None,
    config: rules.RuleConfig = rules.DEFAULT_RULES,
    cache: LoopCache | None = None,
) -> RefreshResult:
    """Count the hot data not yet counted (see the module doc), then publish; raise KpiPublishError when
    Redis cannot take the snapshot (MongoDB is already up to date then). A loop passes the same ``cache``
    to each refresh: it then reads only its new rows and re-reads only the buckets that changed (recent.py)."""
    request = _Request(until, config, cache or LoopCache(), time.monotonic())
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.mongo_db]
        if not request.cache.indexes_checked:  # a create_index and an explain per date index: once a loop
            indexes.ensure(db)
            request.cache.indexes_checked = True
        # max_active_runs=1 covers the scheduler; the lock also covers the CLI and a second Airflow.
        with job_lock(db, KPI_REFRESH):
            return _refresh(spark, settings, db, request)
    except LockBusy as exc:
        raise KpiBusyError(f"another KPI refresh is running ({exc})") from exc
    finally:
        client.close()


def _refresh(spark: SparkSession, settings: Settings, db: Database[Any], request: _Request) -> RefreshResult:
    from pyspark.sql import functions as F

    until, config, cache, started = request.until, request.config, request.cache, request.started
    pending = state.read_pending(db)
    resumed = pending is not None
    stored = state.read_watermark(db)
    cache.trust(stored)
    lower = pending.lower if pending else stored
    target = pending.upper if pending else (until - timedelta(seconds=settings.kpi_lateness_s) if until else None)

    def done(run_id: str | None, watermark: datetime | None, **figures: Any) -> RefreshResult:
        version = None
        if watermark is not None:
            faults.maybe_fail("publish")
            version = publisher.publish(settings, db, watermark, new_alerts, cache.buckets).version
            cache.committed = watermark  # after publishing: a failed one makes the next refresh read all
        counts = {"new_count": 0, "buckets_applied": 0} | figures
        return RefreshResult(run_id, resumed, lower, watermark, new_alerts=len(new_alerts),
                             snapshot_version=version, seconds=round(time.monotonic() - started, 3), **counts)

    new_alerts: list[dict[str, Any]] = []
    if target is not None and lower is not None and target <= lower:
        return done(None, lower)

    probed, customer_ids = new_range(db, lower, target)
    upper = pending.upper if pending else probed
    if upper is None:
        return done(None, lower)
    base, fresh = _hot_rows(spark, settings, cache, lower, upper, config.lookback_min)
    # The read stops at ``upper`` and the kept rows at ``lower``: new is simply after ``lower``.
    is_new = (F.col("ingest_time") > F.lit(lower)) if lower else F.lit(True)
    rows = transforms.for_new_customers(base.withColumn("is_new", is_new), customer_ids)

    fetch_started = time.monotonic()
    referenced = customer_rows(db, customer_ids)
    customers = spark.createDataFrame(referenced, transforms.customer_schema())
    customers_seconds = round(time.monotonic() - fetch_started, 3)
    log.info("kpi: range (%s, %s] and %d customers read in %.1fs (customers %.2fs)", lower, upper,
             len(referenced), time.monotonic() - started, customers_seconds)
    merchants, categories = _dimensions(spark, settings, cache)
    flagged = rules.flag(transforms.enrich(rows, merchants, categories, customers), config).filter("is_new")
    cells = transforms.minute_cells(flagged, int((floor_slot(upper) - SLOTTED).timestamp())).collect()
    deltas, slot_deltas = buckets.fold(cells), buckets.fold(cells, "slot_s")
    alert_rows = [alert for cell in cells for alert in cell["alerts"]]
    log.info("kpi: computed %d buckets, %d alerts at %.1fs", len(deltas), len(alert_rows),
             time.monotonic() - started)

    run = pending or state.Pending(run_id=uuid.uuid4().hex, lower=lower, upper=upper)
    if not resumed:
        state.begin(db, run)
    faults.maybe_fail("read")
    new_alerts = alerts.store(db, [alerts.from_row(r, run.run_id) for r in alert_rows])
    faults.maybe_fail("alerts")
    chunk = 1 if faults.armed("merge_partial") else BULK_CHUNK
    cache.buckets.touched(d.minute for d in deltas)  # before the merge: a merge that fails half-way is re-read too
    applied = buckets.merge(db, run.run_id, deltas, lambda: faults.maybe_fail("merge_partial"), chunk)
    buckets.merge(db, run.run_id, slot_deltas, collection=names.KPI_SLOTS)
    totals.add(db, run.run_id, deltas)
    faults.maybe_fail("merge")
    state.commit(db, run)
    buckets.prune_slots(db, run.upper)
    cache.rows.advance(fresh, run.upper, config.lookback_min)
    log.info("kpi: merged at %.1fs", time.monotonic() - started)
    return done(run.run_id, run.upper, new_count=sum(d.count for d in deltas), buckets_applied=applied,
                customers_read=len(referenced), customers_seconds=customers_seconds)
