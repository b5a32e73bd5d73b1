"""The Redis snapshot round-trips, and a publish swaps versions atomically."""

from __future__ import annotations

from datetime import UTC, datetime

from paylake import names
from paylake.kpi import snapshot


def _snapshot(version: str, count: int) -> snapshot.Snapshot:
    headline = snapshot.Headline(
        window="1h",
        start="2026-01-01T00:00:00+00:00",
        end="2026-01-01T01:00:00+00:00",
        count=count,
        amount=100.0,
        approved_amount=90.0,
        avg_ticket=100.0 / count,
        fraud_count=1,
        fraud_rate=1 / count,
        flagged_count=2,
        flagged_rate=2 / count,
        latency_mean_ms=120.0,
        latency_p95_ms=300.0,
        tpm=count / 60,
        revenue=2.7,
    )
    return snapshot.Snapshot(
        version=version,
        as_of="2026-01-01T01:00:00+00:00",
        watermark="2026-01-01T01:00:05+00:00",
        published_at=datetime(2026, 1, 1, 1, 0, 6, tzinfo=UTC).isoformat(),
        headlines={"1h": headline},
        revenue_by_category={"1h": {"grocery": 1.5, "travel": 1.2}},
        series=snapshot.Series(minutes=["2026-01-01T00:59:00+00:00"], values={"count": [float(count)]}),
        rules={"precision": 0.5},
    )


def test_publish_then_read_round_trips(redis_client) -> None:  # type: ignore[no-untyped-def]
    assert snapshot.read(redis_client) is None
    first = _snapshot("v1", 10)
    snapshot.publish(redis_client, first)
    assert snapshot.read(redis_client) == first
    second = _snapshot("v2", 20)
    snapshot.publish(redis_client, second)
    assert snapshot.read(redis_client) == second
    assert redis_client.get(names.KPI_CURRENT) == "v2"
    old_ttl = redis_client.ttl(names.kpi_snapshot_key("v1", "meta"))
    assert 0 < old_ttl <= snapshot.OLD_VERSION_TTL_S
    assert redis_client.ttl(names.kpi_snapshot_key("v2", "meta")) == -1
