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


def test_windows_end_at_the_watermark_with_its_partial_minute_and_the_last_60_s_from_slots() -> None:
    watermark = AS_OF + timedelta(seconds=32)  # its slot starts at :30, its minute at AS_OF
    buckets = [
        _bucket(AS_OF, 2),  # the watermark's own, still open minute: every window but 1m (slots)
        _bucket(AS_OF - timedelta(minutes=1), 6, fraud_count=3),  # 15m and longer
        _bucket(AS_OF - timedelta(minutes=14), 4),  # 15m's first minute
        _bucket(AS_OF - timedelta(minutes=15), 100),  # 1h and longer
        _bucket(AS_OF - timedelta(hours=2), 5),  # 24h and all
        _bucket(AS_OF - timedelta(days=3), 7),  # all only
    ]
    slots = [
        _bucket(AS_OF - timedelta(seconds=25), 3, fraud_count=3),  # 55 s before the watermark's slot: in 1m
        _bucket(AS_OF - timedelta(seconds=30), 50),  # 60 s before: out
        _bucket(AS_OF + timedelta(seconds=30), 1),  # the watermark's own slot
    ]
    snap = build_snapshot(buckets, watermark, watermark, slots=slots)
    counts = {w: h.count for w, h in snap.headlines.items()}
    assert counts == {"1m": 4, "15m": 12, "1h": 112, "24h": 117, "all": 124}
    one = snap.headlines["1m"]
    assert one.start == (AS_OF - timedelta(seconds=25)).isoformat() and one.end == watermark.isoformat()
    assert one.fraud_rate == 0.75 and one.avg_ticket == 10.0 and one.latency_mean_ms == 100.0
    assert one.tpm == pytest.approx(4 / (57 / 60))  # per minute of the 57 s the window spans
    assert one.latency_p95_ms == pytest.approx(100, rel=0.01)
    fifteen = snap.headlines["15m"]
    assert fifteen.start == (AS_OF - timedelta(minutes=14)).isoformat() and fifteen.end == watermark.isoformat()
    assert fifteen.tpm == pytest.approx(12 / (14 + 32 / 60))
    assert snap.revenue_by_category["24h"] == {"grocery": pytest.approx(11.7)}
    assert snap.as_of == AS_OF.isoformat() and snap.watermark == watermark.isoformat()
    assert snap.headlines["all"].start == "" and snap.headlines["all"].end == watermark.isoformat()
    # Series: 1440 minutes, zero-filled, the last one the partial minute that starts at as_of.
    assert len(snap.series.minutes) == 1440 and snap.series.minutes[-1] == AS_OF.isoformat()
    assert snap.series.values["count"][-2:] == [6.0, 2.0] and snap.series.values["fraud_rate"][-2] == 0.5
    assert sum(snap.series.values["count"]) == 117


def test_rule_precision_and_recall() -> None:
    b = _bucket(AS_OF - timedelta(minutes=1), 100, fraud_count=10, flagged_count=8, flagged_fraud_count=6,
                rules={"velocity": 5, "amount": 4})
    snap = build_snapshot([b], AS_OF, AS_OF)
    assert snap.rules["precision"] == 0.75 and snap.rules["recall"] == 0.6
    assert snap.rules["velocity_count"] == 5 and snap.rules["travel_count"] == 0
    assert snap.headlines["all"].flagged_rate == 0.08


def test_floor_minute_is_utc() -> None:
    assert floor_minute(datetime(2026, 3, 1, 12, 0, 59, 999000, tzinfo=UTC)) == AS_OF
