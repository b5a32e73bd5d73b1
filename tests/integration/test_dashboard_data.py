"""The dashboard's one read of Redis, against the real server: whole state, empty state, bad data, no server."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from paylake import names
from paylake.dashboard import data, history, sample
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
    now = datetime(2026, 1, 2, 12, 0, 30, tzinfo=UTC)
    assert payload.marts == history.decode_history(json.dumps(sample.marts_history(now)))
    assert payload.marts is not None and len(payload.marts.days) == 35
    assert payload.marts.latest is not None and payload.marts.latest.date == "2026-01-01"  # yesterday, UTC
    assert payload.gate is not None and payload.gate.date == "2026-01-01" and payload.gate.passed
    assert len(payload.gate.checks) == len(sample.CHECKS) and not payload.gate.failed
    assert [r.date for r in payload.gate_runs] == ["2026-01-01", "2025-12-31", "2025-12-30", "2025-12-29",
                                                  "2025-12-28"]  # newest first, as the list holds them
    assert payload.gate_runs[0] == payload.gate
    assert not payload.empty and payload.skipped_items == 0 and payload.problems == {}


def test_empty_redis_is_a_state_not_an_error(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    payload = data.load(data.connect(settings.redis_url))
    assert payload.empty and payload.snapshot is None and payload.hot_size is None
    assert payload.marts is None and payload.gate is None and payload.gate_runs == [] and payload.problems == {}


def test_bad_list_items_are_skipped_and_counted(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.rpush(names.ALERTS_RECENT, '{"transaction_id": "t1", "rules": ["amount"]}', "not json", "[1]")
    payload = data.load(data.connect(settings.redis_url))
    assert [a["transaction_id"] for a in payload.alerts] == ["t1"]
    assert payload.skipped_items == 2


def test_malformed_marts_and_gate_runs_are_messages_not_errors(settings: Settings, redis_client) -> None:  # type: ignore[no-untyped-def]
    """The batch layer's payloads must not take the live page down: a bad one is a problem to show, and the
    rest of the refresh (here the KPI snapshot) still loads."""
    now = datetime(2026, 1, 2, 12, 0, 30, tzinfo=UTC)
    published = sample.publish_all(redis_client, now)
    history_json = sample.marts_history(now)
    redis_client.set(names.MARTS_HISTORY, '{"updated_at": "x", "days": [{"date": "2026-01-01", "amount": 1.0}]')
    redis_client.set(names.DQ_LAST, json.dumps({"run_id": "r", "date": "2026-01-01", "finished_at": "", "passed": "yes",
                                                "checks": []}))
    redis_client.lpush(names.DQ_RECENT, "not json")
    payload = data.load(data.connect(settings.redis_url))
    assert payload.snapshot == published
    assert payload.marts is None and payload.gate is None
    assert sorted(payload.problems) == [names.DQ_LAST, names.MARTS_HISTORY]
    assert payload.problems[names.MARTS_HISTORY].startswith(f"Redis key {names.MARTS_HISTORY} is malformed")
    assert "not JSON" in payload.problems[names.MARTS_HISTORY]
    assert payload.problems[names.DQ_LAST] == (f"Redis key {names.DQ_LAST} is malformed and not shown: "
                                               "gate run.passed is 'yes', not bool")
    assert len(payload.gate_runs) == 5 and payload.skipped_items == 1  # the bad item is counted, the rest read
    history_json["days"][0]["transactions"] = "n"  # type: ignore[index]
    redis_client.set(names.MARTS_HISTORY, json.dumps(history_json))
    redis_client.set(names.DQ_LAST, json.dumps(sample.gate_runs(now)[0]))
    payload = data.load(data.connect(settings.redis_url))
    assert payload.marts is None and payload.gate is not None and payload.gate.passed
    assert payload.problems == {names.MARTS_HISTORY: f"Redis key {names.MARTS_HISTORY} is malformed and not shown: "
                                                     "days[0].transactions is 'n', not a number"}


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
