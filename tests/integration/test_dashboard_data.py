"""The dashboard's one read of Redis, against the real server: whole state, empty state, bad data, no server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from paylake import names
from paylake.dashboard import data, sample
from paylake.kpi import snapshot
from paylake.settings import Settings
from paylake.stack.process import free_port


def test_reads_everything_a_refresh_needs(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    published = sample.publish_all(redis_client, datetime(2026, 1, 2, 12, 0, 30, tzinfo=UTC))
    payload = data.load(data.connect(settings.redis_url))
    assert payload.snapshot == published
    assert len(payload.snapshot.series.minutes) == 1440
    assert len(payload.alerts) == names.ALERTS_RECENT_MAX
    assert payload.alerts[0] == sample.alerts(datetime(2026, 1, 2, 12, 0, 30, tzinfo=UTC))[0]  # newest first
    assert payload.hot_size == data.HotSize(212.4, 300.0, 240.0, "2026-01-02T12:00:30+00:00", 431_207)
    assert [b["batch_id"] for b in payload.archive_batches][:2] == ["b2026010112", "b2026010106"]
    assert not payload.empty and payload.skipped_items == 0


def test_empty_redis_is_a_state_not_an_error(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    payload = data.load(data.connect(settings.redis_url))
    assert payload.empty and payload.snapshot is None and payload.hot_size is None


def test_bad_list_items_are_skipped_and_counted(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.rpush(names.ALERTS_RECENT, '{"transaction_id": "t1", "rules": ["amount"]}', "not json", "[1]")
    payload = data.load(data.connect(settings.redis_url))
    assert [a["transaction_id"] for a in payload.alerts] == ["t1"]
    assert payload.skipped_items == 2


def test_malformed_hashes_become_a_clear_error(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.hset(names.HOT_SIZE, mapping={"data_mb": "lots", "threshold_mb": "300"})
    with pytest.raises(data.DashboardDataError, match=names.HOT_SIZE):
        data.load(data.connect(settings.redis_url))
    redis_client.delete(names.HOT_SIZE)
    snapshot.publish(redis_client, sample.build_snapshot(datetime(2026, 1, 2, tzinfo=UTC), minutes=10))
    version = redis_client.get(names.KPI_CURRENT)
    redis_client.hset(names.kpi_snapshot_key(str(version), "series"), "count", "[1, 2")
    with pytest.raises(data.DashboardDataError, match="KPI snapshot in Redis is malformed"):
        data.load(data.connect(settings.redis_url))


def test_unreachable_redis_names_its_address() -> None:
    port = free_port()
    with pytest.raises(data.DashboardDataError, match=f"Redis unreachable at 127.0.0.1:{port}/0"):
        data.load(data.connect(f"redis://127.0.0.1:{port}/0"))
