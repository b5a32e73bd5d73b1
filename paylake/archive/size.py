"""The hot store's size, from MongoDB's own statistics (collStats on the fact collection).

On FerretDB/SQLite the reported size is SQLite page usage and every call runs ANALYZE (a scan), so it is
read once per check — the DAG checks every few minutes — never polled in a loop. After deletes the size
drops although the database file does not shrink: the threshold is about data, not disk.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pymongo.database import Database

from paylake import names
from paylake.clock import now
from paylake.mongo import open_db
from paylake.settings import Settings

log = logging.getLogger(__name__)
MB = 1024 * 1024


@dataclass(frozen=True)
class SizeReport:
    data_bytes: int
    docs: int
    threshold_mb: float
    low_water: float
    checked_at: str

    @property
    def data_mb(self) -> float:
        return self.data_bytes / MB

    @property
    def low_water_mb(self) -> float:
        return self.threshold_mb * self.low_water

    @property
    def over(self) -> bool:
        return self.data_mb > self.threshold_mb

    def line(self) -> str:
        verdict = "over" if self.over else "under"
        return (
            f"hot {names.TRANSACTIONS}: {self.data_mb:.2f} MB in {self.docs} docs, {verdict} the threshold "
            f"{self.threshold_mb:g} MB (low-water {self.low_water_mb:.2f} MB)"
        )


def measure(db: Database[Any], settings: Settings, max_mb: float | None = None) -> SizeReport:
    if names.TRANSACTIONS not in db.list_collection_names():
        data_bytes, docs = 0, 0
    else:
        stats = db.command("collStats", names.TRANSACTIONS)
        # MongoDB and FerretDB both report the uncompressed data size as ``size`` (what dbStats sums as dataSize).
        data_bytes, docs = int(stats.get("size", 0)), int(stats.get("count", 0))
    threshold = settings.hot_max_mb if max_mb is None else max_mb
    return SizeReport(data_bytes, docs, threshold, settings.hot_low_water, now().isoformat())


def record(redis_url: str, report: SizeReport) -> None:
    """Publish the check for the dashboard (names.HOT_SIZE); a Redis outage must not stop archiving."""
    from paylake.cache import side_feed

    with side_feed(redis_url, "record the hot size") as client:
        client.hset(
            names.HOT_SIZE,
            mapping={
                "data_mb": f"{report.data_mb:.3f}",
                "threshold_mb": f"{report.threshold_mb:g}",
                "low_water_mb": f"{report.low_water_mb:.3f}",
                "checked_at": report.checked_at,
                "docs": str(report.docs),
            },
        )


def check(settings: Settings, max_mb: float | None = None) -> SizeReport:
    """Measure once, record in Redis, log the verdict. The DAG's short-circuit calls this."""
    with open_db(settings) as db:
        report = measure(db, settings, max_mb)
    record(settings.redis_url, report)
    log.info("%s", report.line())
    return report
