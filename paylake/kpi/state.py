"""The KPI job's ingest-time watermark, kept in MongoDB (kpi_state).

Every transaction with ``ingest_time <= watermark`` has been counted into the KPI buckets exactly once.
The archive job reads it: only counted data may leave the hot store.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from paylake import names

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
