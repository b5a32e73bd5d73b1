"""The last 24 h of minute buckets, kept in memory across the refreshes of one loop.

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
from typing import Any

from pymongo.database import Database

from paylake.kpi import buckets
from paylake.kpi.headline import SERIES_MINUTES, Bucket, floor_minute


class RecentBuckets:
    def __init__(self) -> None:
        self.by_minute: dict[datetime, Bucket] = {}
        self.pending: set[datetime] = set()  # minutes merged into since the last read
        self.committed: datetime | None = None  # the watermark this copy is current with
        self.loaded = False
        self.reloads = 0  # full reads (the first, and after another writer): for tests and logs

    def trust(self, stored_watermark: datetime | None) -> None:
        """Forget the copy unless ``stored_watermark`` (read before this refresh) is the one last committed."""
        if not self.loaded or stored_watermark != self.committed:
            self.loaded = False

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
        self.committed = watermark
        return [self.by_minute[m] for m in sorted(self.by_minute)]
