"""One KPI refresh: new hot data → flags, alerts, minute buckets → watermark → Redis snapshot.

Exactly-once, step by step (the watermark W means "every transaction with ingest_time <= W is counted"):
  1. range: (W, upper] with upper = ``until`` - allowed lateness (the DAG passes its interval end), or the
     largest ingest_time present when ``until`` is None; then clamped to the largest ingest_time actually
     read, so a document that lands later inside the range is still ahead of the watermark.
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
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.database import Database

from paylake import faults, indexes, names, schema
from paylake.errors import ServiceError
from paylake.jobs import KPI_REFRESH
from paylake.kpi import alerts, buckets, publisher, rules, state, totals, transforms
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


def hot_pipeline(after: datetime | None, upper: datetime | None) -> str | None:
    """The $match the connector pushes down to MongoDB, where the ingest_time index serves it."""
    bounds: dict[str, Any] = {}
    if after is not None:
        bounds["$gt"] = after
    if upper is not None:
        bounds["$lte"] = upper
    return match_pipeline({"ingest_time": bounds}) if bounds else None


def _max_ingest(frame: DataFrame) -> datetime | None:
    from pyspark.sql import functions as F

    ms = frame.agg(F.max(F.unix_millis("ingest_time"))).first()[0]  # type: ignore[index]
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def new_customer_ids(rows: DataFrame) -> list[str]:
    """The distinct customer ids of the run's new rows (``is_new``), sorted."""
    picked = rows.filter("is_new").select("customer_id").distinct().collect()
    return sorted(r[0] for r in picked if r[0] is not None)


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
              target: datetime | None, lookback_min: int) -> DataFrame:
    """The new range plus a lookback of counted rows for the rule windows, as one consistent copy (later
    actions must not re-read a moving store): read whole, or only the new range on top of the rows a loop
    kept from its previous refresh."""
    def read(after: datetime | None) -> DataFrame:
        frame = read_mongo(spark, settings, names.TRANSACTIONS, schema.spark_schema(mongo=True),
                           hot_pipeline(after, target))
        return frame.localCheckpoint(eager=True)

    kept = cache.rows.frame if lower is not None else None
    if kept is not None:
        return kept.unionByName(read(lower))
    return read(lower - timedelta(minutes=lookback_min) if lower else None)


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

    base = _hot_rows(spark, settings, cache, lower, target, config.lookback_min)
    is_new = F.col("ingest_time") > F.lit(lower) if lower else F.lit(True)
    upper = pending.upper if pending else _max_ingest(base.filter(is_new))
    if upper is None:
        return done(None, lower)
    rows = transforms.for_new_customers(base.withColumn("is_new", is_new & (F.col("ingest_time") <= F.lit(upper))))

    # Merchants and categories are small: read whole, once per loop. Customers can be a million: only those
    # the new rows name (flags are decided for new rows only; lookback rows feed windows, needing no dimension).
    if cache.dims is None:
        cache.dims = (
            read_mongo(spark, settings, names.MERCHANTS, transforms.merchant_schema()).localCheckpoint(eager=True),
            read_mongo(spark, settings, names.CATEGORIES, transforms.category_schema()).localCheckpoint(eager=True),
        )
    merchants, categories = cache.dims
    fetch_started = time.monotonic()
    referenced = customer_rows(db, new_customer_ids(rows))
    customers = spark.createDataFrame(referenced, transforms.customer_schema())
    customers_seconds = round(time.monotonic() - fetch_started, 3)
    log.info("kpi: range (%s, %s] and %d customers read in %.1fs (customers %.2fs)", lower, upper,
             len(referenced), time.monotonic() - started, customers_seconds)
    flagged = rules.flag(transforms.enrich(rows, merchants, categories, customers), config).filter("is_new")
    flagged = flagged.persist()
    deltas = buckets.fold(transforms.minute_cells(flagged).collect())
    alert_rows = flagged.filter("flagged").select(
        *alerts.ALERT_COLUMNS[:6],
        F.unix_millis("event_time").alias("event_ms"),
        F.unix_millis("ingest_time").alias("ingest_ms"),
    ).collect()
    flagged.unpersist()
    elapsed = time.monotonic() - started
    log.info("kpi: computed %d buckets, %d alerts at %.1fs", len(deltas), len(alert_rows), elapsed)

    run = pending or state.Pending(run_id=uuid.uuid4().hex, lower=lower, upper=upper)
    if not resumed:
        state.begin(db, run)
    faults.maybe_fail("read")
    new_alerts = alerts.store(db, [alerts.from_row(r, run.run_id) for r in alert_rows])
    faults.maybe_fail("alerts")
    chunk = 1 if faults.armed("merge_partial") else BULK_CHUNK
    cache.buckets.touched(d.minute for d in deltas)  # before the merge: a merge that fails half-way is re-read too
    applied = buckets.merge(db, run.run_id, deltas, lambda: faults.maybe_fail("merge_partial"), chunk)
    totals.add(db, run.run_id, deltas)
    faults.maybe_fail("merge")
    state.commit(db, run)
    cache.rows.advance(base, run.upper, config.lookback_min)
    log.info("kpi: merged at %.1fs", time.monotonic() - started)
    return done(run.run_id, run.upper, new_count=sum(d.count for d in deltas), buckets_applied=applied,
                customers_read=len(referenced), customers_seconds=customers_seconds)
