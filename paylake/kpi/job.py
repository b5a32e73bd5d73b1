"""One KPI refresh: new hot data → flags, alerts, minute buckets → watermark → Redis snapshot.

Exactly-once, step by step (the watermark W means "every transaction with ingest_time <= W is counted"):
  1. range: (W, upper] with upper = ``until`` - allowed lateness (the DAG passes its interval end), or the
     largest ingest_time present when ``until`` is None, kept below any insert still in flight (inflight.py);
     then clamped to the largest ingest_time of the rows read (``reads.hot_read``: the rows Spark then
     counts, read once), so a document that lands later beyond it is still ahead of the watermark.
  2. the range and a run id are recorded as ``pending`` in kpi_state before anything is written;
  3. alerts are inserted by transaction id (a re-run skips stored ones); minute buckets and the recent
     5-second slots are merged, each skipping a run id it already has; the all-time totals take the run's
     delta unless they hold it (totals.py);
  4. the watermark moves to ``upper`` and ``pending`` is cleared in one atomic document update;
  5. the snapshot is rebuilt from the last 24 h of buckets, the last minute's slots and the totals, and
     swapped into Redis.
A crash anywhere before 4 leaves ``pending``: the next run redoes the same range with the same run id.
A crash after 4 (e.g. Redis down) loses nothing: the next run republishes from the buckets.
The data is chosen by ingest time from the stores, never by the wall clock.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import faults, indexes, names
from paylake.errors import ServiceError
from paylake.jobs import KPI_REFRESH
from paylake.kpi import alerts, buckets, publisher, reads, rules, state, totals, transforms
from paylake.kpi.headline import Bucket, slotted_from
from paylake.kpi.recent import LoopCache
from paylake.lock import LockBusy, job_lock
from paylake.mongo import BULK_CHUNK, open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)


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
    customers_read: int = 0  # documents of the customers dimension the run fetched (its new rows' customers
    # that its loop had not fetched yet)
    customers_seconds: float = 0.0  # time spent collecting their ids and fetching them

    def summary(self) -> str:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}
        return json.dumps(data)


@dataclass(frozen=True)
class _Request:
    until: datetime | None
    config: rules.RuleConfig
    cache: LoopCache
    started: float


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
    with open_db(settings) as db:
        if not request.cache.indexes_checked:  # a create_index and an explain per date index: once a loop
            indexes.ensure(db)
            request.cache.indexes_checked = True
        try:  # max_active_runs=1 covers the scheduler; the lock also covers the CLI and a second Airflow.
            with job_lock(db, KPI_REFRESH):
                return _refresh(spark, settings, db, request)
        except LockBusy as exc:
            raise KpiBusyError(f"another KPI refresh is running ({exc})") from exc
        except BaseException:
            if request.cache.prefetcher is not None:  # it assumed this refresh would commit its upper bound
                request.cache.prefetcher.discard()
            raise


@dataclass(frozen=True)
class _Computed:
    """What a refresh's one Spark action gives: the minute and slot deltas and the flagged rows."""

    deltas: list[Bucket]
    slot_deltas: list[Bucket]
    alert_rows: list[Any]
    customers_read: int
    customers_seconds: float


# New rows a refresh counts at most: a longer backlog is caught up in several refreshes (``reads.capped``).
# The Spark server holds a refresh's rows (and their customers' lookback) in its heap as local data; catch-ups
# of 2-5 minutes at 2,000 tx/s exhausted the stack's 2 GB (now 4 GB).
MAX_NEW_ROWS = 100_000

# Rows read by a refresh from which its Spark action runs in LARGE_PARTS tasks, by customer (the rules'
# window needs no other exchange then); below it, one task (see ``_compute``). None: always one.
LARGE_RANGE: int | None = None
LARGE_PARTS = 2


# Rows (new, and their customers' lookback) from which a refresh's Spark action compiles its plan (whole-stage
# code generation) instead of interpreting it (the KPI session's default, KPI_REFRESH.spark_conf). Compiling
# costs the server ~3-5 s of JIT per refresh, since each plan is new; interpreting ~60 us more per row
# (bench/kpi_phases.py, 2 rounds: a 180,000-row catch-up 18.8, 17.7 server CPU-s compiled, 28.5, 25.0
# interpreted; a 30,000-row refresh 7.5, 5.6 compiled, 6.2, 4.7 interpreted). On a denser lookback (50,000
# customers) 20,000 new rows a refresh cost 7.3 server CPU-s compiled against 11.5 interpreted
# (bench/refresh_cpu.py --per 20000, 2 rounds, 2026-12-02): the 3,000 tx/s stream's size.
CODEGEN_ROWS = 20_000


def _code_generation(spark: SparkSession, cache: LoopCache, on: bool) -> None:
    if cache.codegen is not on:  # two settings of the session, changed when a refresh needs the other mode
        spark.conf.set("spark.sql.codegen.wholeStage", str(on).lower())
        spark.conf.set("spark.sql.codegen.factoryMode", "FALLBACK" if on else "NO_CODEGEN")
        cache.codegen = on


def _partitioned(rows: DataFrame, read_rows: int) -> DataFrame:
    if LARGE_RANGE is None or read_rows < LARGE_RANGE:
        return rows.coalesce(1)
    return rows.repartition(LARGE_PARTS, "customer_id")


def _compute(spark: SparkSession, settings: Settings, db: Database[Any], request: _Request, lower: datetime | None,
             read: reads.HotRead) -> _Computed:
    """Flag the new rows of ``read`` (ingest time after ``lower``) against their customers' lookback and fold
    them into minute and slot cells with their alerts: reads only, one Spark action."""
    from pyspark.sql import functions as F

    cache, config, customer_ids, upper = request.cache, request.config, read.customer_ids, read.upper
    assert upper is not None
    table = reads.spark_input(cache, lower, read, config.velocity_window_min)
    _code_generation(spark, cache, table.num_rows >= CODEGEN_ROWS)
    base = reads.spark_rows(spark, table)
    # The read stops at ``upper`` and the kept rows at ``lower``: new is simply after ``lower``.
    is_new = (F.col("ingest_time") > F.lit(lower)) if lower else F.lit(True)
    # One partition: the per-customer window and the minute aggregation then need no shuffle, and the whole
    # refresh is one task (server CPU per refresh -22 %; README, "CPU per refresh").
    rows = _partitioned(base.withColumn("is_new", is_new), table.num_rows)
    fetch_started = time.monotonic()
    referenced, fetched = reads.loop_customers(db, cache.customers, customer_ids)
    customers = spark.createDataFrame(referenced, transforms.customer_schema())
    customers_seconds = round(time.monotonic() - fetch_started, 3)
    merchant_dim = reads.merchant_dimension(spark, settings, cache)
    enriched = transforms.enrich_with(rows, merchant_dim, customers)
    flagged = rules.flag(enriched, config).filter("is_new")
    cells = transforms.minute_cells(flagged, int(slotted_from(upper).timestamp())).collect()
    return _Computed(buckets.fold(cells), buckets.fold(cells, "slot_s"),
                     [alert for cell in cells for alert in cell["alerts"]], fetched, customers_seconds)


def _read(db: Database[Any], request: _Request, pending: state.Pending | None, lower: datetime | None,
          target: datetime | None) -> reads.HotRead:
    """The range's rows: the loop's prefetched read (prefetch.py) when it assumed nothing that changed, else
    read now. It started at the previous refresh's upper bound, before that one committed: usable only if
    no redo is pending, the watermark stored is that bound (``Prefetcher.take`` compares them) and the loop
    still trusts its kept lookback rows (``cache.trust``: it committed that watermark itself), so that this
    read starts exactly at the watermark."""
    cache = request.cache
    since = reads.read_since(cache, lower, request.config.lookback_min)
    if cache.prefetcher is not None:
        taken = None
        if pending is None and lower is not None and since == lower:
            taken = cache.prefetcher.take(lower, target, cache.customers)
        else:
            cache.prefetcher.discard()
        if taken is not None:
            return reads.capped(taken, lower, MAX_NEW_ROWS)
    read = reads.hot_read(db, since, lower, target)
    if pending:  # a redo counts the recorded range, which the rows read may no longer reach (read.upper)
        return dataclasses.replace(read, upper=pending.upper)
    return reads.capped(read, lower, MAX_NEW_ROWS)


def _refresh(spark: SparkSession, settings: Settings, db: Database[Any], request: _Request) -> RefreshResult:
    until, config, cache, started = request.until, request.config, request.cache, request.started
    pending = state.read_pending(db)
    resumed = pending is not None
    stored = state.read_watermark(db)
    cache.adopt(db, stored)  # a loop's first refresh: what the previous loop left (its rows if left at ``stored``)
    cache.trust(stored)
    lower = pending.lower if pending else stored
    target = pending.upper if pending else reads.upper_bound(db, settings, until)

    def done(run_id: str | None, watermark: datetime | None, **figures: Any) -> RefreshResult:
        version = None
        if watermark is not None:
            faults.maybe_fail("publish")
            version = publisher.publish(settings, db, watermark, new_alerts, cache.buckets).version
            cache.committed = watermark  # after publishing: a failed one makes the next refresh read all
        counts = {"new_count": 0, "buckets_applied": 0} | figures
        seconds = round(time.monotonic() - started, 3)
        state.record_refresh(db, seconds, int(counts["new_count"]))
        return RefreshResult(run_id, resumed, lower, watermark, new_alerts=len(new_alerts),
                             snapshot_version=version, seconds=seconds, **counts)

    new_alerts: list[dict[str, Any]] = []
    if target is not None and lower is not None and target <= lower:
        return done(None, lower)

    read = _read(db, request, pending, lower, target)
    upper = read.upper
    follows = upper or lower  # where the next range starts: this one's end, or the watermark if nothing is new
    if cache.prefetcher is not None and follows is not None:  # read it while this refresh computes and writes
        cache.prefetcher.start(follows, cache.customers, started)
    if upper is None:
        return done(None, lower)
    read_s = time.monotonic() - started
    computed = _compute(spark, settings, db, request, lower, read)
    log.info("kpi: range (%s, %s], %d rows read at %.1fs, %d customers (%.2fs): %d buckets, %d alerts at %.1fs",
             lower, upper, read.table.num_rows, read_s, computed.customers_read, computed.customers_seconds,
             len(computed.deltas), len(computed.alert_rows), time.monotonic() - started)

    run = pending or state.Pending(run_id=uuid.uuid4().hex, lower=lower, upper=upper)
    if not resumed:
        state.begin(db, run)
    faults.maybe_fail("read")
    # Queued for the webhook in the same insert; a separate deliverer sends them (paylake.webhook.deliver).
    new_alerts = alerts.store(db, [alerts.from_row(r, run.run_id) for r in computed.alert_rows],
                              webhook=bool(settings.alert_webhook))
    faults.maybe_fail("alerts")
    chunk = 1 if faults.armed("merge_partial") else BULK_CHUNK
    deltas = computed.deltas
    cache.buckets.touched(d.minute for d in deltas)  # before the merge: a merge that fails half-way is re-read too
    applied = buckets.merge(db, run.run_id, deltas, lambda: faults.maybe_fail("merge_partial"), chunk)
    buckets.merge(db, run.run_id, computed.slot_deltas, collection=names.KPI_SLOTS)
    totals.add(db, run.run_id, deltas)
    faults.maybe_fail("merge")
    state.commit(db, run)
    buckets.prune_slots(db, run.upper)
    cache.rows.advance(read.table, run.upper, config.lookback_min)
    log.info("kpi: merged at %.1fs", time.monotonic() - started)
    return done(run.run_id, run.upper, new_count=sum(d.count for d in deltas), buckets_applied=applied,
                customers_read=computed.customers_read, customers_seconds=computed.customers_seconds)
