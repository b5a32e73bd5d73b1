"""What a loop of KPI refreshes keeps between them: the last 24 h of minute buckets (in memory) and the
rules' lookback rows (on the Spark server).

Publishing rebuilds the snapshot from the last 24 hours of buckets. Read from MongoDB each time, that is
1,440 documents per refresh (0.5 s on FerretDB with the 20-per-decade histogram, 1.6 s with today's finer
one): at a refresh every 5 s, most of the loop's cost. A loop instead reads them once and afterwards only
re-reads the minutes each refresh merged into, so a refresh costs what its new rows cost.

The copy is only as good as the assumption that this loop is the only writer: it is trusted only while the
stored watermark is the one its last refresh committed (the KPI lock serialises writers, so any other
refresh in between moves the watermark), and reloaded whole otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import reduce
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake.kpi import buckets
from paylake.kpi.headline import SERIES_MINUTES, Bucket, floor_minute

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame

    from paylake.kpi.prefetch import Prefetcher


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


class RecentRows:
    """The counted rows of the rules' lookback (``lookback_min`` of ingest time before the watermark), kept
    on the Spark server across a loop's refreshes, so a refresh reads only its new rows from MongoDB (a
    60-minute lookback is 72,000 documents at 20 tx/s, read every 5 s otherwise). Rows archived meanwhile
    stay in it: the rules keep their context.

    Kept as checkpoints (``parts``): one compacted, plus the new rows of each refresh since, unioned when
    read. Every ``COMPACT_EVERY`` refreshes they are rewritten as one partition: that is an action (~0.1 s
    of server CPU), the unions in between cost a task each. Replaced checkpoints are released at the start
    of the next refresh (``release``), not when the last frame built on them is freed: pyspark releases a
    checkpoint from its finalizer, and running that inside the teardown of a deep union crashed the client
    ("double free or corruption").
    """

    COMPACT_EVERY = 12

    def __init__(self) -> None:
        self.parts: list[DataFrame] = []
        self.retired: list[DataFrame] = []
        self.bounds: tuple[datetime, datetime] | None = None  # (since, upper]: the ingest times kept

    @property
    def holding(self) -> bool:
        """Whether lookback rows are kept: a refresh then reads only the rows after the watermark."""
        return bool(self.parts) and self.bounds is not None

    @property
    def frame(self) -> DataFrame | None:
        from pyspark.sql import functions as F

        if not self.holding or self.bounds is None:
            return None
        since, upper = self.bounds
        union = reduce(lambda a, b: a.unionByName(b), self.parts)
        return union.filter((F.col("ingest_time") > F.lit(since)) & (F.col("ingest_time") <= F.lit(upper)))

    def advance(self, fresh: DataFrame, upper: datetime, lookback_min: int) -> None:
        """Add ``fresh`` (a checkpoint of rows read by the refresh that committed ``upper``; mongo schema)
        and keep what is in the lookback once ``upper`` is committed."""
        self.parts.append(fresh)
        self.bounds = (upper - timedelta(minutes=lookback_min), upper)
        if len(self.parts) > self.COMPACT_EVERY:
            compacted = self.frame.coalesce(1).localCheckpoint(eager=True)  # type: ignore[union-attr]
            self.retired += self.parts
            self.parts = [compacted]

    def forget(self) -> None:
        self.retired += self.parts
        self.parts, self.bounds = [], None

    def hold(self, read: DataFrame) -> DataFrame:
        """Keep a refresh's read until the next refresh, whatever this one does (see ``release``)."""
        self.retired.append(read)
        return read

    def release(self) -> None:
        """Free the replaced checkpoints and the previous refresh's read (call when no frame built on them
        is left)."""
        self.retired.clear()


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
        self.rows = RecentRows()
        self.customers = KnownCustomers()
        self.merchants: DataFrame | None = None  # transforms.merchant_dimension, checkpointed
        self.indexes_checked = False
        self.committed: datetime | None = None
        # The loop's next read, done while a refresh computes (prefetch.py); None: each refresh reads its own.
        self.prefetcher: Prefetcher | None = None

    def trust(self, stored_watermark: datetime | None) -> None:
        """Forget the buckets and rows unless ``stored_watermark`` (read before this refresh) is the one the
        loop last committed."""
        if self.committed is None or stored_watermark != self.committed:
            self.buckets.forget()
            self.rows.forget()
