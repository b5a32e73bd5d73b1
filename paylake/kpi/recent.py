"""What a loop of KPI refreshes keeps between them: the last 24 h of minute buckets, the customers it met and
the rules' lookback rows (lookback.py), all on the driver.

Publishing rebuilds the snapshot from the last 24 hours of buckets. Read from MongoDB each time, that is
1,440 documents per refresh (0.5 s on FerretDB with the 20-per-decade histogram, 1.6 s with today's finer
one): at a refresh every 5 s, most of the loop's cost. A loop instead reads them once and afterwards only
re-reads the minutes each refresh merged into, so a refresh costs what its new rows cost.

The copy is only as good as the assumption that this loop is the only writer: it is trusted only while the
stored watermark is the one its last refresh committed (the KPI lock serialises writers, so any other
refresh in between moves the watermark), and reloaded whole otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake.kpi import buckets
from paylake.kpi.customers import KnownCustomers, dimensions_version
from paylake.kpi.headline import SERIES_MINUTES, Bucket, floor_minute
from paylake.kpi.lookback import LookbackRows

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from paylake.kpi.prefetch import Prefetcher

log = logging.getLogger(__name__)

class RecentBuckets:
    def __init__(self) -> None:
        self.by_minute: dict[datetime, Bucket] = {}
        self.pending: set[datetime] = set()  # minutes merged into since the last read
        self.loaded = False
        self.reloads = 0  # full reads (the first, and after another writer): for tests and logs

    def forget(self) -> None:
        self.loaded, self.pending = False, set()

    def touched(self, minutes: Iterable[datetime]) -> None:
        """A refresh merged into these minutes: re-read them at the next ``buckets``."""
        self.pending.update(minutes)

    def buckets(self, db: Database[Any], watermark: datetime) -> list[Bucket]:
        """The buckets of the 24 h before ``watermark``'s minute (oldest first), once the refresh that merged
        into the ``touched`` minutes has committed ``watermark``."""
        touched, self.pending = self.pending, set()
        since = floor_minute(watermark) - timedelta(minutes=SERIES_MINUTES)
        if not self.loaded:
            self.by_minute = {b.minute: b for b in buckets.load(db, since=since)}
            self.loaded, self.reloads = True, self.reloads + 1
        else:
            fresh = sorted(m for m in touched if m >= since)
            if fresh:
                self.by_minute |= {b.minute: b for b in buckets.load_minutes(db, fresh)}
            self.by_minute = {m: b for m, b in self.by_minute.items() if m >= since}
        return [self.by_minute[m] for m in sorted(self.by_minute)]


class LoopCache:
    """What one loop of refreshes keeps between them: the recent buckets, the lookback rows, the dimensions
    (merchants joined with their categories, the customers it met) and that the indexes were checked, all
    read once per loop (i.e. per 5-minute run). The buckets and rows are current with the watermark
    ``committed`` by the loop's last refresh, and trusted only while the stored one is still that (any other
    writer moves it)."""

    def __init__(self) -> None:
        self.buckets = RecentBuckets()
        self.rows = LookbackRows()
        self.customers = KnownCustomers()
        self.merchants: DataFrame | None = None  # transforms.merchant_dimension, checkpointed
        self.indexes_checked = False
        self.codegen: bool | None = None  # whether the session compiles plans (job.CODEGEN_ROWS); None: not set
        self.committed: datetime | None = None
        # The loop's next read, done while a refresh computes (prefetch.py); None: each refresh reads its own.
        self.prefetcher: Prefetcher | None = None
        # Where the previous loop left its lookback rows (lookback.py) and customers (customers.py), taken by
        # the first refresh; None: no hand-over (single refreshes).
        self.handover: Path | None = None
        self.customers_handover: Path | None = None
        self.dimensions: str | None = None  # customers.dimensions_version at the loop's first refresh
        self.adopted = False

    def adopt(self, db: Database[Any], stored_watermark: datetime | None) -> None:
        """At a loop's first refresh: hold the lookback rows the previous loop left, if it left them at
        ``stored_watermark`` (then trusted as if this loop had committed it), and the customers it met, if the
        dimensions are as they were then."""
        if self.adopted:
            return
        self.adopted = True
        started = time.monotonic()
        if self.handover is not None and self.committed is None and self.rows.take_over(self.handover,
                                                                                        stored_watermark):
            self.committed = stored_watermark
            log.info("kpi: took over %d lookback rows from the previous loop in %.2f s", self.rows.rows,
                     time.monotonic() - started)
        if self.customers_handover is not None:
            started = time.monotonic()
            self.dimensions = dimensions_version(db)
            taken = self.customers.take_over(self.customers_handover, self.dimensions)
            if taken:
                log.info("kpi: took over %d customers from the previous loop in %.2f s", taken,
                         time.monotonic() - started)

    def trust(self, stored_watermark: datetime | None) -> None:
        """Forget the buckets and rows unless ``stored_watermark`` (read before this refresh) is the one the
        loop last committed."""
        if self.committed is None or stored_watermark != self.committed:
            self.buckets.forget()
            self.rows.forget()
