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
    from pyspark.sql import DataFrame


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


class LoopCache:
    """What one loop of refreshes keeps between them: the recent buckets, the lookback rows, the small
    dimensions (merchants, categories) and that the indexes were checked, all read once per loop (i.e. per
    5-minute run). The buckets and rows are current with the watermark ``committed`` by the loop's last
    refresh, and trusted only while the stored one is still that (any other writer moves it)."""

    def __init__(self) -> None:
        self.buckets = RecentBuckets()
        self.rows = RecentRows()
        self.dims: tuple[DataFrame, DataFrame] | None = None
        self.indexes_checked = False
        self.committed: datetime | None = None

    def trust(self, stored_watermark: datetime | None) -> None:
        """Forget the buckets and rows unless ``stored_watermark`` (read before this refresh) is the one the
        loop last committed."""
        if self.committed is None or stored_watermark != self.committed:
            self.buckets.forget()
            self.rows.forget()
