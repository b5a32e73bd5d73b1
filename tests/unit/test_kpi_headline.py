"""Pure KPI math: windows, series and rule figures from minute buckets (the histogram: test_kpi_histogram)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paylake.kpi import histogram
from paylake.kpi.headline import Bucket, build_snapshot, floor_minute

AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _bucket(minute: datetime, count: int, **kw: object) -> Bucket:
    return Bucket(minute=minute, count=count, amount=10.0 * count, approved_count=count,
                  approved_amount=10.0 * count, latency_sum=100.0 * count, hist={histogram.bucket_of(100): count},
                  revenue={"grocery": 0.1 * count}, **kw)  # type: ignore[arg-type]


def test_windows_end_at_the_watermark_minute_and_all_time_takes_everything() -> None:
    buckets = [
        _bucket(AS_OF - timedelta(minutes=1), 6, fraud_count=3),  # in every window
        _bucket(AS_OF - timedelta(minutes=10), 4),  # 15m and longer
        _bucket(AS_OF - timedelta(hours=2), 5),  # 24h and all
        _bucket(AS_OF - timedelta(days=3), 7),  # all only
        _bucket(AS_OF, 2),  # the watermark's own, still open minute: all only
    ]
    snap = build_snapshot(buckets, AS_OF + timedelta(seconds=30), AS_OF + timedelta(seconds=31))
    counts = {w: h.count for w, h in snap.headlines.items()}
    assert counts == {"1m": 6, "15m": 10, "1h": 10, "24h": 15, "all": 24}
    one = snap.headlines["1m"]
    assert one.fraud_rate == 0.5 and one.avg_ticket == 10.0 and one.tpm == 6.0 and one.latency_mean_ms == 100.0
    assert one.latency_p95_ms == pytest.approx(100, rel=0.01)
    assert snap.headlines["15m"].tpm == pytest.approx(10 / 15)
    assert snap.revenue_by_category["24h"] == {"grocery": pytest.approx(1.5)}
    assert snap.as_of == AS_OF.isoformat() and snap.headlines["1m"].start == (AS_OF - timedelta(minutes=1)).isoformat()
    assert snap.headlines["all"].start == "" and snap.headlines["all"].end == (AS_OF + timedelta(minutes=1)).isoformat()
    # Series: 1440 minutes ending just before as_of, zero-filled.
    assert len(snap.series.minutes) == 1440 and snap.series.minutes[-1] == (AS_OF - timedelta(minutes=1)).isoformat()
    assert sum(snap.series.values["count"]) == 15 and snap.series.values["fraud_rate"][-1] == 0.5


def test_rule_precision_and_recall() -> None:
    b = _bucket(AS_OF - timedelta(minutes=1), 100, fraud_count=10, flagged_count=8, flagged_fraud_count=6,
                rules={"velocity": 5, "amount": 4})
    snap = build_snapshot([b], AS_OF, AS_OF)
    assert snap.rules["precision"] == 0.75 and snap.rules["recall"] == 0.6
    assert snap.rules["velocity_count"] == 5 and snap.rules["travel_count"] == 0
    assert snap.headlines["all"].flagged_rate == 0.08


def test_floor_minute_is_utc() -> None:
    assert floor_minute(datetime(2026, 3, 1, 12, 0, 59, 999000, tzinfo=UTC)) == AS_OF
