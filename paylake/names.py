"""Every MongoDB collection name and Redis key paylake uses, in one place.

The Redis layout is documented in the README ("Redis keys"); keep the two in step.
"""

from __future__ import annotations

# --- MongoDB collections (database: Settings.mongo_db) -------------------------------------------
TRANSACTIONS = "transactions"  # the fact: one document per transaction, _id = transaction_id
DEAD_LETTER = "dead_letter"  # records that failed validation, with the reason; never dropped
INGEST_INFLIGHT = "ingest_inflight"  # one document per writer with an insert under way: KPI bounds stay below it
GENERATOR_STATS = "generator_stats"  # one document: the generator's counts since the store was created ($inc)
MERCHANTS = "merchants"  # dimension: merchant_id → category, city, commission_rate
CATEGORIES = "categories"  # dimension: category → description, typical amount
CUSTOMERS = "customers"  # dimension: customer_id → home location, typical amount, spend index
DIMENSIONS_STATE = "dimensions_state"  # one document: the seed and sizes the dimensions were seeded from
KPI_MINUTES = "kpi_minutes"  # per-minute KPI buckets: history that survives archiving and Redis wipes
KPI_SLOTS = "kpi_slots"  # 5-second KPI buckets of the last minutes: the last-60-seconds window
KPI_STATE = "kpi_state"  # the KPI job's watermark, its pending (in-flight) range and the all-time totals
ALERTS = "alerts"  # transactions flagged by the rule-based fraud checks
ARCHIVE_MANIFEST = "archive_manifest"  # one document per archive batch, with its state
LOCKS = "locks"  # job locks (archiving must never overlap)
MART_DATES = "mart_dates"  # one document per UTC date the daily marts were built for: published version, state
DQ_RESULTS = "dq_results"  # one document per data-quality gate run: the date, every check, its count and sample

# --- Redis keys ---------------------------------------------------------------------------------
PREFIX = "paylake"
KPI_CURRENT = f"{PREFIX}:kpi:current"  # string: version id of the published KPI snapshot
ALERTS_RECENT = f"{PREFIX}:alerts:recent"  # list of JSON alerts, newest first, capped
ALERTS_RECENT_MAX = 200
HOT_SIZE = f"{PREFIX}:hot:size"  # hash: data_mb, threshold_mb, low_water_mb, checked_at, docs
ARCHIVE_RECENT = f"{PREFIX}:archive:recent"  # list of JSON archive batches, newest first, capped
ARCHIVE_RECENT_MAX = 50
MARTS_HISTORY = f"{PREFIX}:marts:history"  # string: JSON of the daily marts' history (marts.history.History)
DQ_LAST = f"{PREFIX}:dq:last"  # string: JSON of the last data-quality gate run (marts.results)
DQ_RECENT = f"{PREFIX}:dq:recent"  # list of JSON gate runs, newest first, capped
DQ_RECENT_MAX = 50

# Headline KPI windows: name → length in seconds (None = all time).
WINDOWS: dict[str, int | None] = {"1m": 60, "15m": 900, "1h": 3600, "24h": 86400, "all": None}


def inflight_db(mongo_db: str) -> str:
    """The database of ``INGEST_INFLIGHT``: its own, because on FerretDB/SQLite a database is a file with its own
    write lock, so a writer's two small writes per batch never queue behind the archive's deletes."""
    return f"{mongo_db}_inflight"


def kpi_snapshot_key(version: str, part: str) -> str:
    """A part of one versioned KPI snapshot: ``meta``, ``headline:<window>``, ``revenue:<window>``, ``series``."""
    return f"{PREFIX}:kpi:snap:{version}:{part}"


def kpi_headline_key(version: str, window: str) -> str:
    return kpi_snapshot_key(version, f"headline:{window}")


def kpi_revenue_key(version: str, window: str) -> str:
    return kpi_snapshot_key(version, f"revenue:{window}")
