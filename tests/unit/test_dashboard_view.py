"""The dashboard's pure logic: previous-window deltas, spike detection, staleness, formatting."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from paylake.dashboard import charts, view
from paylake.dashboard.sample import build_snapshot
from paylake.kpi.snapshot import Headline, Series, Snapshot

AS_OF = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def _series(minutes: int = 1440, count: float = 10.0, fraud_rate: float = 0.1, p95: float = 200.0) -> Series:
    starts = [AS_OF - timedelta(minutes=minutes - i) for i in range(minutes)]
    return Series(
        minutes=[s.isoformat() for s in starts],
        values={
            "count": [count] * minutes,
            "amount": [count * 5] * minutes,
            "fraud_rate": [fraud_rate] * minutes,
            "latency_p95_ms": [p95] * minutes,
        },
    )


def _headline(window: str, seconds: int | None) -> Headline:
    start = "" if seconds is None else (AS_OF - timedelta(seconds=seconds)).isoformat()
    return Headline(window, start, AS_OF.isoformat(), 1, 1.0, 1.0, 1.0, 0, 0.0, 0, 0.0, 1.0, 1.0, 1.0, 0.0)


def _snapshot(series: Series) -> Snapshot:
    windows = {"1m": 60, "15m": 900, "1h": 3600, "24h": 86400, "all": None}
    return Snapshot(
        version="v",
        as_of=AS_OF.isoformat(),
        watermark=AS_OF.isoformat(),
        published_at=AS_OF.isoformat(),
        headlines={w: _headline(w, s) for w, s in windows.items()},
        revenue_by_category={},
        series=series,
    )


def test_previous_window_is_the_span_just_before() -> None:
    series = _series()
    # The last hour has twice the traffic and a different fraud rate and latency from the hour before.
    for i in range(1380, 1440):
        series.values["count"][i] = 20.0
        series.values["amount"][i] = 100.0
        series.values["fraud_rate"][i] = 0.05
        series.values["latency_p95_ms"][i] = 300.0
    comparison = view.compare(_snapshot(series), "1h")
    assert comparison is not None
    assert comparison.current == view.Figures(count=1200, amount=6000.0, fraud_rate=0.05, latency_p95_ms=300.0)
    assert comparison.previous.count == 600
    assert comparison.previous.amount == 3000.0
    assert comparison.previous.fraud_rate == pytest.approx(0.1)
    assert view.deltas(comparison) == {
        "count": "+600",
        "amount": "+3,000.00",
        "fraud_rate": "-5.00 pp",
        "latency_p95_ms": "+100.0 ms",
    }


def test_p95_of_a_span_is_the_count_weighted_mean_of_minute_p95s() -> None:
    series = _series(minutes=2)
    series.values["count"][:] = [30.0, 10.0]
    series.values["latency_p95_ms"][:] = [100.0, 500.0]
    figures = view.span_figures(series, AS_OF - timedelta(minutes=2), AS_OF)
    assert figures.latency_p95_ms == pytest.approx(200.0)


def test_windows_without_a_previous_window_in_the_series_have_no_delta() -> None:
    snapshot = _snapshot(_series())
    assert view.compare(snapshot, "24h") is None  # its previous day is outside the 24 h series
    assert view.compare(snapshot, "all") is None  # nothing precedes all time
    assert view.deltas(None) == dict.fromkeys(("count", "amount", "fraud_rate", "latency_p95_ms"))
    assert view.compare(snapshot, "15m") is not None


def test_a_previous_window_without_traffic_has_no_rate_delta() -> None:
    series = _series()
    for i in range(1380):
        series.values["count"][i] = 0.0
    comparison = view.compare(_snapshot(series), "1h")
    assert comparison is not None and comparison.previous.fraud_rate is None
    shown = view.deltas(comparison)
    assert shown["count"] == "+600" and shown["fraud_rate"] is None and shown["latency_p95_ms"] is None


def test_spikes_flag_only_outlying_minutes_with_enough_traffic() -> None:
    counts = [50.0] * 100
    rates = [0.02 + 0.002 * (i % 5) for i in range(100)]
    rates[40] = 0.20
    rates[70] = 0.50
    counts[70] = 3.0  # one fraud out of a handful of payments is no signal
    spikes = view.fraud_spikes(counts, rates)
    assert [i for i, s in enumerate(spikes) if s] == [40]


def test_a_flat_or_short_series_has_no_spikes() -> None:
    assert not any(view.fraud_spikes([50.0] * 30, [0.02] * 30))
    assert view.fraud_spikes([50.0, 50.0], [0.0, 0.9]) == [False, False]
    assert view.fraud_spikes([], []) == []


def test_staleness() -> None:
    now = AS_OF + timedelta(seconds=200)
    age = view.snapshot_age_s(AS_OF.isoformat(), now)
    assert age == 200.0
    assert view.is_stale(age, 180.0)
    assert not view.is_stale(age, 300.0)
    assert view.snapshot_age_s("", now) is None
    assert view.is_stale(None, 180.0)  # an undated snapshot is never trusted
    assert view.snapshot_age_s((now + timedelta(seconds=5)).isoformat(), now) == 0.0  # clock skew


def test_formatting() -> None:
    assert view.fmt_count(1234567) == "1,234,567"
    assert view.fmt_amount(1234.5) == "1,234.50"
    assert view.fmt_rate(0.01234) == "1.23 %"
    assert view.fmt_rate(None) == "—"
    assert view.fmt_ms(345.04) == "345.0 ms"
    assert view.fmt_age(42) == "42 s"
    assert view.fmt_age(185) == "3 min 5 s"
    assert view.fmt_age(7200) == "2.0 h"
    assert view.fmt_time("2026-01-02T12:00:05.123+00:00") == "2026-01-02 12:00:05 UTC"
    assert view.fmt_time("garbage") == "garbage"
    assert view.chart_minutes("1m") == 60 and view.chart_minutes("24h") == 1440 and view.chart_minutes("all") == 1440


def test_headline_values_of_an_empty_window_show_dashes() -> None:
    empty = Headline("1m", "", "", 0, 0.0, 0.0, 0.0, 0, 0.0, 0, 0.0, 0.0, 0.0, 0.0, 0.0)
    assert view.headline_values(empty) == {"count": "0", "amount": "0.00", "fraud_rate": "—", "latency_p95_ms": "—"}


def test_rule_fire_counts_leave_out_totals() -> None:
    rules = {"precision": 0.5, "flagged_count": 9.0, "true_positive_count": 4.0, "velocity_count": 3.0}
    assert view.rule_fire_counts(rules) == {"velocity": 3}


def test_sample_snapshot_charts_cover_the_chosen_span() -> None:
    snapshot = build_snapshot(AS_OF)
    frame = charts.series_frame(snapshot.series, view.chart_minutes("1h"))
    assert len(frame) == 60
    assert frame["spike"].sum() == 1  # the sample plants a spike 37 minutes before as_of
    assert view.compare(snapshot, "1h") is not None


def test_the_partial_minute_is_marked_never_a_spike_and_drawn_apart_from_the_line() -> None:
    snapshot = build_snapshot(AS_OF)
    minutes, values = snapshot.series.minutes, snapshot.series.values
    # The snapshot's as_of minute is still filling: a tiny count with a high fraud rate, as a partial one looks.
    partial = Series(minutes=[*minutes[1:], snapshot.as_of],
                     values={k: [*v[1:], 3.0 if k == "count" else 0.9] for k, v in values.items()})
    frame = charts.series_frame(partial, 60, snapshot.as_of)
    assert frame["partial"].tolist() == [False] * 59 + [True]
    assert not frame["spike"].iloc[-1]
    spec = charts.tpm_chart(frame).to_dict()
    filters = [layer["transform"][0]["filter"] for layer in spec["layer"]]
    assert filters == ["!datum.partial", "datum.partial"]
    assert charts.fraud_chart(frame).to_dict()["layer"]  # the nested layers make a valid spec


def test_minutes_before_the_first_transaction_are_no_data_not_zero() -> None:
    snapshot = build_snapshot(AS_OF)
    values = {k: [0.0] * 1400 + v[1400:] for k, v in snapshot.series.values.items()}  # traffic for 40 minutes
    frame = charts.series_frame(Series(minutes=snapshot.series.minutes, values=values), 60)
    first = snapshot.series.minutes[1400]
    assert frame.loc[frame["minute"] < first, "count"].isna().sum() == 20
    assert frame.loc[frame["minute"] >= first, "count"].notna().all()
    quiet = Series(minutes=snapshot.series.minutes, values={k: [0.0] * len(v) for k, v in values.items()})
    assert charts.series_frame(quiet, 60)["count"].isna().all()


def test_archive_batches_show_compact_spans_and_times() -> None:
    batch = {"batch_id": "20261201T1000-20261201T1010", "range_start": "2026-12-01T10:00:00+00:00",
             "range_end": "2026-12-01T10:10:00+00:00", "rows": 1200, "bytes": 2_345_678, "state": "complete",
             "completed_at": "2026-12-01T10:31:07.5+00:00"}
    over_midnight = batch | {"range_start": "2026-11-30T23:00:00+00:00", "range_end": "2026-12-01T00:00:00+00:00"}
    frame = charts.archive_frame([batch, over_midnight, {}])
    assert list(frame.columns) == ["events (UTC)", "rows", "MB", "state", "done", "batch"]
    assert frame["events (UTC)"].tolist() == ["12-01 10:00–10:10", "11-30 23:00–12-01 00:00", "— – —"]
    assert frame["done"].tolist()[:2] == ["10:31:07", "10:31:07"] and frame["MB"][0] == 2.35
