"""KPI test helpers: dimension documents of the generator's shape, and ground truth straight from MongoDB."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from paylake import names, schema
from paylake.kpi import histogram
from paylake.kpi.headline import window_start

CATEGORIES = {"grocery": 0.01, "travel": 0.03, "electronics": 0.02}


def seed_dimensions(db: Any, merchants: int = 20, customers: int = 50) -> None:
    """Merchants M00000…, customers C00000… and the categories, shaped like the generator's seed."""
    cats = list(CATEGORIES)
    db[names.CATEGORIES].insert_many(
        [{"_id": c, "name": c.title(), "description": c, "commission_rate": r, "median_amount": 40.0}
         for c, r in CATEGORIES.items()]
    )
    db[names.MERCHANTS].insert_many(
        [{"_id": f"M{i:05d}", "name": f"Shop {i}", "category": cats[i % 3], "city": "New York", "country": "US",
          "latitude": 40.7, "longitude": -74.0, "commission_rate": CATEGORIES[cats[i % 3]] + i / 10000}
         for i in range(merchants)]
    )
    db[names.CUSTOMERS].insert_many(
        [{"_id": f"C{i:05d}", "home_city": "New York", "home_country": "US", "home_latitude": 40.7,
          "home_longitude": -74.0, "typical_amount": 50.0, "spend_index": 50.0 / 45.0, "segment": "retail"}
         for i in range(customers)]
    )


def insert(db: Any, records: list[dict[str, Any]]) -> None:
    db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in records], ordered=False)


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def truth(db: Any, start: datetime | None, end: datetime | None, counted_by: datetime | None = None) -> dict[str, Any]:
    """KPIs over transactions with start <= event_time < end (None = unbounded) and, with ``counted_by``,
    ingest_time <= counted_by, computed from the documents."""
    rates = {m["_id"]: m["commission_rate"] for m in db[names.MERCHANTS].find()}
    category = {m["_id"]: m["category"] for m in db[names.MERCHANTS].find()}
    docs = [d for d in db[names.TRANSACTIONS].find()
            if (start is None or utc(d["event_time"]) >= start) and (end is None or utc(d["event_time"]) < end)
            and (counted_by is None or utc(d["ingest_time"]) <= counted_by)]
    revenue: dict[str, float] = {}
    for d in docs:
        if d["status"] == "approved":
            cat = category[d["merchant_id"]]
            revenue[cat] = revenue.get(cat, 0.0) + d["amount"] * rates[d["merchant_id"]]
    latencies = sorted(d["latency_ms"] for d in docs)
    n = len(docs)
    return {
        "count": n,
        "amount": sum(d["amount"] for d in docs),
        "approved_amount": sum(d["amount"] for d in docs if d["status"] == "approved"),
        "fraud_count": sum(1 for d in docs if d["is_fraud"]),
        "fraud_rate": sum(1 for d in docs if d["is_fraud"]) / n if n else 0.0,
        "latency_mean_ms": sum(latencies) / n if n else 0.0,
        "latency_p95_exact": latencies[max(0, -(-95 * n // 100) - 1)] if n else 0.0,
        "revenue": revenue,
    }


def check_snapshot(db: Any, snap: Any, windows: dict[str, int | None] = names.WINDOWS) -> None:
    """Every headline window of ``snap`` equals ground truth (floats to 1e-9 relative, p95 to the histogram's
    bound)."""
    import pytest

    watermark = datetime.fromisoformat(snap.watermark)
    for window, seconds in windows.items():
        h = snap.headlines[window]
        # A window holds what was counted by the watermark, from its start on: the last 60 s from a 5-second
        # slot, longer ones from a minute, so that the watermark's own (partial) slot or minute is in.
        start = None if seconds is None else window_start(watermark, seconds)
        assert h.start == ("" if start is None else start.isoformat()), window
        t = truth(db, start, None, counted_by=watermark)
        assert h.count == t["count"], window
        assert h.fraud_count == t["fraud_count"], window
        assert h.amount == pytest.approx(t["amount"], rel=1e-9), window
        assert h.approved_amount == pytest.approx(t["approved_amount"], rel=1e-9), window
        assert h.fraud_rate == pytest.approx(t["fraud_rate"], rel=1e-9), window
        assert h.latency_mean_ms == pytest.approx(t["latency_mean_ms"], rel=1e-9), window
        if t["count"]:  # the histogram's bound (< 1 %) against the exact nearest-rank p95
            assert h.latency_p95_ms == pytest.approx(t["latency_p95_exact"], rel=histogram.MAX_ERROR), window
        assert snap.revenue_by_category.get(window, {}) == pytest.approx(t["revenue"], rel=1e-9), window
        assert h.revenue == pytest.approx(sum(t["revenue"].values()), rel=1e-9), window
