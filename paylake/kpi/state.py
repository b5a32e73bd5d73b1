"""The KPI job's ingest-time watermark, kept in MongoDB (kpi_state).

Every transaction with ``ingest_time <= watermark`` has been counted into the KPI buckets exactly once.
The archive job reads it: only counted data may leave the hot store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from paylake import names
from paylake.clock import now

WATERMARK_ID = "watermark"


def read_watermark(db: Database[Any]) -> datetime | None:
    """The ingest time up to which (inclusive) every hot transaction has been counted; None before the first run."""
    doc = db[names.KPI_STATE].find_one({"_id": WATERMARK_ID})
    if not doc or doc.get("ingest_time") is None:
        return None
    value: datetime = doc["ingest_time"]
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def write_watermark(db: Database[Any], ingest_time: datetime) -> None:
    db[names.KPI_STATE].update_one({"_id": WATERMARK_ID}, {"$set": {"ingest_time": ingest_time}}, upsert=True)


@dataclass(frozen=True)
class Pending:
    """A refresh that started merging but has not advanced the watermark yet: the next run redoes it with
    the same id and range, and buckets that already list the id skip it (see buckets.merge)."""

    run_id: str
    lower: datetime | None  # exclusive; None = from the beginning
    upper: datetime  # inclusive; becomes the watermark when the run commits


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value if value.tzinfo else value.replace(tzinfo=UTC)


def read_pending(db: Database[Any]) -> Pending | None:
    doc = db[names.KPI_STATE].find_one({"_id": WATERMARK_ID})
    pending = (doc or {}).get("pending")
    if not pending:
        return None
    upper = _utc(pending["upper"])
    assert upper is not None
    return Pending(run_id=pending["run_id"], lower=_utc(pending.get("lower")), upper=upper)


def begin(db: Database[Any], pending: Pending) -> None:
    """Record the intent before the first bucket is touched."""
    intent = {"run_id": pending.run_id, "lower": pending.lower, "upper": pending.upper}
    db[names.KPI_STATE].update_one({"_id": WATERMARK_ID}, {"$set": {"pending": intent}}, upsert=True)


def commit(db: Database[Any], pending: Pending) -> None:
    """Advance the watermark and clear the intent in one single-document (atomic) update."""
    db[names.KPI_STATE].update_one(
        {"_id": WATERMARK_ID},
        {"$set": {"ingest_time": pending.upper, "last_run_id": pending.run_id}, "$unset": {"pending": ""}},
        upsert=True,
    )


LAST_REFRESH_ID = "last_refresh"


def record_refresh(db: Database[Any], seconds: float, new_count: int) -> None:
    """The last refresh's duration and size, for the metrics exporter (paylake.ops): one small update."""
    db[names.KPI_STATE].update_one(
        {"_id": LAST_REFRESH_ID},
        {"$set": {"seconds": seconds, "new_count": new_count, "at": now()}, "$inc": {"refreshes": 1}},
        upsert=True,
    )
