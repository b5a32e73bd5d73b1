"""The one clock: the time paylake stamps and schedules by (UTC, timezone-aware).

It stamps bookkeeping (ingest time, lock expiry, manifest state times, snapshot publication) and bounds the
KPI loop's refreshes; data is always chosen by the times stored with it, never by this clock alone.
"""

from __future__ import annotations

from datetime import UTC, datetime


def as_utc(value: object) -> datetime | None:
    """A stored date as an aware UTC datetime (a naive one is UTC); None for anything that is not a date."""
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def now() -> datetime:
    return datetime.now(UTC)


def now_ms() -> datetime:
    """``now`` truncated to the millisecond: what a BSON date keeps, so a stamp compares as it is stored."""
    stamp = now()
    return stamp.replace(microsecond=stamp.microsecond // 1000 * 1000)
