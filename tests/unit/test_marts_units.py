"""The batch layer's pure parts: the CLI's date ranges, the row-count gate, failed gates failing the Airflow
task without retries, and the demo's history command."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime

import pytest

from paylake.errors import UsageError
from paylake.marts import commands, gates, results


def _args(**given: object) -> argparse.Namespace:
    return argparse.Namespace(**{"date": None, "date_from": None, "date_to": None, **given})


def test_build_dates_are_one_date_or_an_inclusive_range() -> None:
    assert commands.dates(_args(date=date(2026, 3, 1))) == [date(2026, 3, 1)]
    span = commands.dates(_args(date_from=date(2026, 2, 27), date_to=date(2026, 3, 2)))
    assert span == [date(2026, 2, 27), date(2026, 2, 28), date(2026, 3, 1), date(2026, 3, 2)]


@pytest.mark.parametrize(("given", "message"), [
    ({}, "give --date"),
    ({"date": date(2026, 3, 1), "date_from": date(2026, 3, 1)}, "not both"),
    ({"date_from": date(2026, 3, 2), "date_to": date(2026, 3, 1)}, "is before"),
    ({"date_from": date(2026, 3, 2)}, "give --date"),
])
def test_build_dates_refuse_unclear_input(given: dict[str, object], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        commands.dates(_args(**given))


def test_row_count_names_each_mart_that_does_not_add_up() -> None:
    ok = gates.row_count(120, {"daily_summary": 120, "merchant_daily": 120})
    assert ok.passed and ok.sample == []
    bad = gates.row_count(120, {"daily_summary": 120, "merchant_daily": 117, "hourly_patterns": 121})
    assert not bad.passed and bad.count == 3
    assert bad.sample == ["hourly_patterns=121", "merchant_daily=117", "fact=120"]
    assert "row_count: 3 offending" in bad.line()


def test_a_failed_gate_names_every_failed_check() -> None:
    checks = [gates.CheckResult("range_amount", "amount > 0", 2, ["t1", "t2"]),
              gates.CheckResult("accepted_status", "status in approved, declined", 0)]
    message = str(results.failure(date(2026, 3, 1), checks))
    assert "2026-03-01" in message and "range_amount: 2 offending" in message and "t1, t2" in message
    assert "accepted_status" not in message


def test_a_failed_gate_fails_the_airflow_task_without_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from paylake.marts import tasks

    def gate_fails(*_: object, **__: object) -> str:
        raise results.GateFailed("data-quality gates failed for 2026-03-01: range_amount: 2 offending")

    monkeypatch.setattr(tasks, "run", gate_fails)
    with pytest.raises(AirflowFailException, match="range_amount"):
        tasks.build_task(datetime(2026, 3, 1, tzinfo=UTC))


def test_the_demo_history_spans_its_days_at_its_rate() -> None:
    from paylake import demo_history as h

    argv = h.generate_command(["paylake"], date(2026, 11, 23))
    given = dict(zip(argv[2::2], argv[3::2], strict=True))
    assert given["--start"] == "2026-11-23T00:00:00+00:00"
    wall_s = int(given["--count"]) / int(given["--rate"])
    assert wall_s * float(given["--speedup"]) == pytest.approx(h.HISTORY_DAYS * 86400)
    assert h.history_range(date(2026, 11, 30)) == (date(2026, 11, 23), date(2026, 11, 29))
