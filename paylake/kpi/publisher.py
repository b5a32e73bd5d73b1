"""Publish the KPI snapshot to Redis from MongoDB: the last 24 h of minute buckets, the last minute's
5-second slots and the all-time totals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import redis
from pymongo.database import Database

from paylake import clock, names
from paylake.cache import connect, redacted
from paylake.errors import ServiceError
from paylake.kpi import alerts, buckets, snapshot, totals
from paylake.kpi.headline import build_snapshot, slots_since
from paylake.kpi.recent import RecentBuckets
from paylake.settings import Settings


class KpiPublishError(ServiceError):
    """Redis could not take the snapshot; the buckets in MongoDB are intact and the next run republishes."""


def publish(
    settings: Settings, db: Database[Any], watermark: datetime, new_alerts: Sequence[dict[str, Any]],
    cache: RecentBuckets | None = None,
) -> snapshot.Snapshot:
    """Rebuild the snapshot from the stored buckets and swap it in atomically; push the new alerts.

    Rebuilding from MongoDB (not patching Redis) is what makes a Redis wipe harmless: the buckets of the
    last 24 hours give the windows and series (read whole, or kept current by a loop's ``cache``), the
    totals document the all-time figures. A wiped recent-alerts list is refilled from the alerts collection.
    """
    recent = (cache or RecentBuckets()).buckets(db, watermark)
    slots = buckets.load_slots(db, slots_since(watermark))
    snap = build_snapshot(recent, watermark, clock.now(), totals.load(db), slots)
    client = connect(settings.redis_url)
    try:
        if client.exists(names.ALERTS_RECENT):
            alerts.push_recent(client, new_alerts)
        else:
            alerts.refill_recent(db, client)
        snapshot.publish(client, snap)
    except redis.RedisError as exc:
        raise KpiPublishError(
            f"could not publish the KPI snapshot to Redis at {redacted(settings.redis_url)}: {exc}. "
            "The buckets and watermark in MongoDB are saved; the next run republishes everything."
        ) from exc
    finally:
        client.close()
    return snap
