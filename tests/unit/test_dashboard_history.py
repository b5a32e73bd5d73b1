"""The History view's pure parts: decoding the marts' history and gate runs, chart frames, formatting."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

import pytest

from paylake.dashboard import charts, history_view, sample
from paylake.dashboard.history import (
    Check,
    Day,
    GateRun,
    HistoryDecodeError,
    decode_gate_run,
    decode_gate_runs,
    decode_history,
)

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _day(date: str, **overrides: Any) -> dict[str, Any]:
    day = {"date": date, "transactions": 1000, "amount": 50_000.0, "approved_amount": 45_000.0, "avg_ticket": 50.0,
           "fraud_count": 20, "fraud_rate": 0.02, "flagged": 40, "flagged_share": 0.04, "rule_precision": 0.25,
           "commission": 1_000.0}
    return day | overrides


def _history(*days: dict[str, Any], **top: Any) -> str:
    return json.dumps({"updated_at": "2026-12-01T00:07:00+00:00", "days": list(days), **top})


def _run(date: str = "2026-11-30", passed: bool = True, checks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    checks = checks if checks is not None else [
        {"name": "unique_transaction_id", "passed": True, "count": 0, "sample": [], "detail": "ids once"}]
    return {"run_id": f"{date}T000500-abc", "date": date, "finished_at": "2026-12-01T00:05:00+00:00",
            "passed": passed, "checks": checks}


def test_the_sample_history_decodes_to_what_was_published() -> None:
    payload = sample.marts_history(NOW)
    marts = decode_history(json.dumps(payload))
    assert len(marts.days) == 35
    assert marts.days[0].date == "2026-10-27" and marts.latest is not None and marts.latest.date == "2026-11-30"
    assert marts.latest.amount == payload["days"][-1]["amount"]  # type: ignore[index]
    assert marts.previous is not None and marts.previous.date == "2026-11-29"
    assert marts.top_merchants_date == "2026-11-30" and len(marts.top_merchants) == 10
    sales = [m.sales for m in marts.top_merchants]
    assert sales == sorted(sales, reverse=True)
    assert [s.rfm_segment for s in marts.segments][:2] == ["champions", "loyal"]


def test_days_are_sorted_extra_fields_ignored_and_absent_blocks_are_empty() -> None:
    marts = decode_history(_history(_day("2026-11-03", new_field="x"), _day("2026-11-01"),
                                    top_merchants=None, segments=None))
    assert [d.date for d in marts.days] == ["2026-11-01", "2026-11-03"]
    assert marts.top_merchants == [] and marts.top_merchants_date is None and marts.segments == []


def test_ratios_may_be_null_missing_or_nan_but_counts_may_not() -> None:
    marts = decode_history(_history(_day("2026-11-01", rule_precision=None), _day("2026-11-02", fraud_rate=math.nan),
                                    {k: v for k, v in _day("2026-11-03").items() if k != "avg_ticket"}))
    assert marts.days[0].rule_precision is None
    assert marts.days[1].fraud_rate is None
    assert marts.days[2].avg_ticket is None
    with pytest.raises(HistoryDecodeError, match=r"days\[0\]\.transactions is None"):
        decode_history(_history(_day("2026-11-01", transactions=None)))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "history is list, not an object"),
        (json.dumps({"days": {}}), "days is dict, not a list"),
        (_history(_day("2026-11-01"), {"date": "2026-11-02"}), r"days\[1\] has no 'transactions'"),
        (_history(_day("2026-11-01", amount="12.5")), r"days\[0\]\.amount is '12\.5', not a number"),
        (_history(_day("2026-11-01", fraud_count=True)), r"days\[0\]\.fraud_count is True, not a number"),
        (_history(_day("2026-11-01", transactions=12.5)), r"days\[0\]\.transactions is 12\.5, not a whole number"),
        (_history(_day("30/11/2026")), r"days\[0\]\.date is '30/11/2026', not a YYYY-MM-DD date"),
        (_history(_day("20261130")), r"days\[0\]\.date is '20261130', not a YYYY-MM-DD date"),
        (_history(_day("2026-11-01"), top_merchants={"date": "2026-11-01", "rows": [{"merchant_id": "M1"}]}),
         r"top_merchants\.rows\[0\] has no 'name'"),
        (_history(_day("2026-11-01"), segments={"date": "2026-11-01"}), r"segments\.rows is NoneType, not a list"),
    ],
)
def test_malformed_history_names_what_is_wrong(text: str, match: str) -> None:
    with pytest.raises(HistoryDecodeError, match=match):
        decode_history(text)


def test_gate_runs_decode_strictly_and_bad_recent_items_are_skipped() -> None:
    failing = _run(passed=False, checks=[
        {"name": "unique_transaction_id", "passed": True, "count": 0, "sample": [], "detail": "ids once"},
        {"name": "referential_merchant", "passed": False, "count": 3, "sample": ["tx1", "tx2", "tx3"]}])
    run = decode_gate_run(json.dumps(failing))
    assert not run.passed and [c.name for c in run.failed] == ["referential_merchant"]
    assert run.failed[0].sample == ["tx1", "tx2", "tx3"] and run.failed[0].detail == ""
    with pytest.raises(HistoryDecodeError, match=r"checks\[0\]\.passed is 'false', not bool"):
        decode_gate_run(json.dumps(_run(checks=[{"name": "x", "passed": "false", "count": 0}])))
    with pytest.raises(HistoryDecodeError, match="gate run has no 'finished_at'"):
        decode_gate_run(json.dumps({k: v for k, v in _run().items() if k != "finished_at"}))
    runs, skipped = decode_gate_runs([json.dumps(_run("2026-11-30")), "nope", "[]", json.dumps(_run("2026-11-29"))])
    assert [r.date for r in runs] == ["2026-11-30", "2026-11-29"] and skipped == 2


def test_days_frame_breaks_lines_at_unpublished_dates() -> None:
    days = decode_history(_history(_day("2026-11-01"), _day("2026-11-04", fraud_rate=0.05, rule_precision=None))).days
    frame = charts.days_frame(days)
    assert frame["date"].tolist() == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    assert frame.loc[1:2, ["amount", "commission", "fraud_pct", "flagged_pct"]].isna().all().all()
    assert frame["fraud_pct"].iloc[3] == pytest.approx(5.0) and frame["flagged_pct"].iloc[0] == pytest.approx(4.0)
    assert math.isnan(frame["rule_precision"].iloc[3])
    assert charts.days_frame([]).empty


def test_history_charts_are_straight_lines_with_points_and_nulls_at_gaps() -> None:
    frame = charts.days_frame(decode_history(_history(_day("2026-11-01"), _day("2026-11-03"))).days)
    rates = charts.daily_rates_chart(frame).to_dict()
    assert rates["mark"] == {"type": "line", "interpolate": "linear", "point": True}
    assert rates["encoding"]["color"]["scale"]["domain"] == ["fraud rate", "flagged by rules"]
    assert rates["encoding"]["color"]["scale"]["range"][0] == charts.SPIKE_COLOR  # fraud in red, as on the live page
    values = next(iter(rates["datasets"].values()))
    gap = [v for v in values if v["date"] == "2026-11-02"]
    assert len(gap) == 2 and all(v["pct"] is None for v in gap)  # drawn as nothing, not as zero
    revenue = charts.daily_revenue_chart(frame).to_dict()
    assert revenue["resolve"] == {"scale": {"y": "independent"}}
    assert [layer["mark"]["type"] for layer in revenue["layer"]] == ["bar", "line"]
    assert revenue["layer"][1]["mark"]["interpolate"] == "linear" and revenue["layer"][1]["mark"]["point"] is True


def test_checks_table_lists_failed_checks_first_with_marks_and_samples() -> None:
    run = GateRun("r1", "2026-11-30", "2026-12-01T00:05:00+00:00", False, [
        Check("unique_transaction_id", True, 0),
        Check("referential_merchant", False, 7, [f"tx{i}" for i in range(7)], "merchant_id is in merchants"),
        Check("row_count", False, 2, ["daily_summary=10", "fact=12"])])
    frame = charts.checks_frame(run)
    assert frame["check"].tolist() == ["referential_merchant", "row_count", "unique_transaction_id"]
    assert frame["passed"].tolist() == ["✗", "✗", "✓"]
    assert frame["count"].tolist() == [7, 2, 0]
    assert frame["sample ids"].tolist() == ["tx0, tx1, tx2, tx3, tx4 (+2)", "daily_summary=10, fact=12", "—"]
    runs = charts.gate_runs_frame([run, GateRun("r0", "2026-11-29", "", True, [Check("x", True, 0)])])
    assert runs["passed"].tolist() == ["✗", "✓"]
    assert runs["failed"].tolist() == ["referential_merchant, row_count", "—"]


def test_gate_status_line() -> None:
    assert history_view.gate_status(None)[0] == "none"
    ok = GateRun("r", "2026-11-30", "2026-12-01T00:05:00+00:00", True, [Check("a", True, 0), Check("b", True, 0)])
    assert history_view.gate_status(ok) == (
        "passed", "Data quality: last gate run for 2026-11-30 passed (2 checks, finished 2026-12-01 00:05:00 UTC)")
    failed = GateRun("r", "2026-11-30", "", False, [Check("a", True, 0), Check("b", False, 1234)])
    level, text = history_view.gate_status(failed)
    assert level == "failed" and "FAILED: b (1,234)" in text and " a " not in text
    # A run that says it passed while a check failed is shown as failed: never a green light on a contradiction.
    contradiction = GateRun("r", "2026-11-30", "", True, [Check("b", False, 1)])
    assert history_view.gate_status(contradiction)[0] == "failed"


def test_latest_day_figures_and_changes_against_the_previous_published_date() -> None:
    before = Day("2026-11-27", 1000, 50_000.0, 45_000.0, 1_000.0, 20, 40, 50.0, 0.02, 0.04, 0.25)
    latest = Day("2026-11-30", 900, 54_321.5, 48_000.0, 1_086.43, 27, 36, 60.4, 0.03, 0.04, None)
    assert history_view.day_values(latest) == {
        "transactions": "900", "amount": "54,321.50", "commission": "1,086.43",
        "fraud_rate": "3.00 %", "flagged_share": "4.00 %", "rule_precision": "—"}
    assert history_view.day_deltas(latest, before) == {
        "transactions": "-100", "amount": "+4,321.50", "commission": "+86.43",
        "fraud_rate": "+1.00 pp", "flagged_share": "+0.00 pp", "rule_precision": None}
    assert set(history_view.day_deltas(latest, None).values()) == {None}


def test_history_span_counts_the_dates_not_published() -> None:
    assert history_view.history_span("2026-11-01", "2026-11-30", 30, 30) == (
        "30 published date(s), 2026-11-01 to 2026-11-30")
    assert history_view.history_span("2026-11-01", "2026-11-30", 28, 30).endswith(
        "(2 date(s) in between not published: gaps in the lines)")
    assert history_view.history_span("", "", 0, 0) == "no published date"


def test_merchant_and_segment_tables_show_ratios_as_percentages() -> None:
    marts = decode_history(json.dumps(sample.marts_history(NOW)))
    merchants = charts.top_merchants_frame(marts.top_merchants)
    assert merchants.columns.tolist() == ["merchant", "name", "category", "country", "transactions", "sales",
                                          "commission", "fraud rate"]
    assert merchants["fraud rate"].iloc[0] == f"{marts.top_merchants[0].fraud_rate * 100:.2f} %"  # type: ignore[operator]
    segments = charts.segments_frame(marts.segments)
    assert segments.set_index("segment").loc["new", "fraud ratio"] == "2.10 %"
    assert charts.segments_chart(segments).to_dict()["encoding"]["y"]["sort"] == "-x"
