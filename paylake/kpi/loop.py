"""The KPI job's entry: one refresh, or refreshes back to back for a while on one Spark session.

The kpi_refresh task runs the loop for its 5-minute run: a refresh at least every PAYLAKE_KPI_PERIOD_S, each
up to the clock minus the allowed lateness, so the snapshot in Redis is seconds old. A refresh that fails on
a down server (MongoDB, Redis) or a busy lock is logged and retried at the next tick; the loop ends with
that error only when its last refresh failed too, so Airflow shows a run that ended broken as failed.
Each refresh's next range is read on a thread while it computes and writes (prefetch.py): behind the stream,
the loop then takes about the longer of the read and the rest per refresh instead of their sum.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.errors import PyMongoError

from paylake import clock
from paylake.errors import ServiceError
from paylake.kpi import handover, reads
from paylake.kpi.job import RefreshResult, run_refresh
from paylake.kpi.prefetch import Prefetcher
from paylake.kpi.recent import LoopCache
from paylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    refreshes: int = 0
    failures: int = 0
    new_count: int = 0
    watermark: datetime | None = None
    slowest_s: float = 0.0
    errors: list[str] = field(default_factory=list)  # the first few, for the task's summary

    def add(self, result: RefreshResult) -> None:
        self.refreshes += 1
        self.new_count += result.new_count
        self.watermark = result.watermark or self.watermark
        self.slowest_s = max(self.slowest_s, result.seconds)

    def summary(self) -> str:
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}
        return json.dumps(data)


def run(spark: SparkSession, settings: Settings, until: datetime | None = None, for_s: float = 0.0) -> Any:
    """One refresh up to ``until`` (None: everything ingested), or, with ``for_s`` > 0, refreshes up to the
    clock for ``for_s`` seconds (``until`` is then ignored)."""
    if for_s <= 0:
        return run_refresh(spark, settings, until=until)
    return loop(spark, settings, time.monotonic() + for_s)


def loop(spark: SparkSession, settings: Settings, deadline: float) -> LoopResult:
    cache = LoopCache()  # buckets, lookback rows and small dimensions kept between the refreshes
    # What the previous loop left (handover.py): this loop's first refresh then reads only new rows, and
    # fetches only customers that loop had not met.
    cache.handover = handover.path(settings, "lookback")
    cache.customers_handover = handover.path(settings, "customers")
    # Each refresh's next range is read while it computes and writes (prefetch.py), up to the same bound
    # as the refresh's own: the clock minus the allowed lateness, below any insert in flight.
    cache.prefetcher = Prefetcher(settings, lambda db: reads.upper_bound(db, settings, clock.now()))
    cache.prefetcher.last_start = deadline - settings.kpi_period_s  # see _loop's end: no refresh follows it
    try:
        result = _loop(spark, settings, deadline, cache)
    finally:
        cache.prefetcher.discard()
    if cache.rows.bounds is not None and cache.rows.bounds[1] == cache.committed:  # its last refresh published
        started = time.monotonic()
        cache.rows.hand_over(cache.handover)
        log.info("kpi: left %d lookback rows for the next loop in %.2f s", cache.rows.rows, time.monotonic() - started)
    started = time.monotonic()
    if left := cache.customers.hand_over(cache.customers_handover, cache.dimensions):
        log.info("kpi: left the %d customers it met for the next loop in %.2f s", left, time.monotonic() - started)
    return result


def _loop(spark: SparkSession, settings: Settings, deadline: float, cache: LoopCache) -> LoopResult:
    out, last_error = LoopResult(), None
    while True:
        started = time.monotonic()
        try:
            out.add(run_refresh(spark, settings, until=clock.now(), cache=cache))
            last_error = None
        except (ServiceError, PyMongoError) as exc:  # down server, busy lock: retried at the next tick
            last_error = exc
            out.failures += 1
            if len(out.errors) < 5:
                out.errors.append(f"{type(exc).__name__}: {exc}")
            log.warning("kpi refresh failed, retrying in %.0f s: %s", settings.kpi_period_s, exc)
        pause = started + settings.kpi_period_s - time.monotonic()
        if time.monotonic() + max(pause, 0.0) >= deadline:
            break
        time.sleep(max(pause, 0.0))
    if last_error is not None:
        raise last_error
    return out
