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
from paylake.kpi.headline import SERIES_MINUTES, Bucket, floor_minute
from paylake.kpi.lookback import LookbackRows

if TYPE_CHECKING:
    import pyarrow as pa
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


class KnownCustomers:
    """The customers a loop has fetched (Arrow rows of ``transforms.customer_schema``): each is read from
    MongoDB once per loop, like merchants and categories, instead of once per refresh that names it. At 3,000
    tx/s a refresh names ~29,000 customers of 500,000 and a 5-minute loop ~900,000 payments: most are repeats,
    and each fetch costs FerretDB ~40 us of CPU. At most the whole dimension is held (~80 bytes a customer)."""

    def __init__(self) -> None:
        self.table: pa.Table | None = None
        self.row_of: dict[str, int] = {}  # id -> row in ``table``; -1: looked up, not in the dimension

    def missing(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if i not in self.row_of]

    def add(self, looked_up: list[str], found: pa.Table) -> None:
        """Record a fetch of ``looked_up``, which found ``found`` (the ids it lacks are not in the dimension);
        ids met meanwhile (a prefetch's fetch overlaps the refresh's own) keep their first row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        new = self.missing(looked_up)
        if len(new) < len(looked_up):
            looked_up, found = new, found.filter(pc.is_in(found["_id"], pa.array(new, pa.string())))
        start = self.table.num_rows if self.table is not None else 0
        self.row_of |= dict.fromkeys(looked_up, -1) | {i: start + n for n, i in enumerate(found["_id"].to_pylist())}
        self.table = found if self.table is None else pa.concat_tables([self.table, found])

    def take(self, ids: Iterable[str]) -> pa.Table:
        """The known rows of ``ids`` (call after fetching their ``missing``; absent customers have none)."""
        import pyarrow as pa

        assert self.table is not None
        return self.table.take(pa.array([r for r in (self.row_of[i] for i in ids) if r >= 0], pa.int64()))


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
        # Where the previous loop left its lookback rows (lookback.py), taken by the first refresh; None: no
        # hand-over (single refreshes).
        self.handover: Path | None = None
        self.adopted = False

    def adopt(self, stored_watermark: datetime | None) -> None:
        """At a loop's first refresh: hold the lookback rows the previous loop left, if it left them at
        ``stored_watermark`` (then trusted as if this loop had committed it)."""
        if self.handover is None or self.adopted:
            return
        self.adopted = True
        started = time.monotonic()
        if self.committed is None and self.rows.take_over(self.handover, stored_watermark):
            self.committed = stored_watermark
            log.info("kpi: took over %d lookback rows from the previous loop in %.2f s", self.rows.rows,
                     time.monotonic() - started)

    def trust(self, stored_watermark: datetime | None) -> None:
        """Forget the buckets and rows unless ``stored_watermark`` (read before this refresh) is the one the
        loop last committed."""
        if self.committed is None or stored_watermark != self.committed:
            self.buckets.forget()
            self.rows.forget()
