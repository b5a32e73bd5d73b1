"""Chart data and Altair specs for the dashboard (pure: data in, chart objects out, no I/O)."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd

from paylake.dashboard import history_view, view
from paylake.dashboard.history import Day, GateRun, Segment, TopMerchant
from paylake.kpi.snapshot import Series

SPIKE_COLOR = "#d62728"
LINE_COLOR = "#1f77b4"


def series_frame(series: Series, last_minutes: int, as_of: str = "") -> pd.DataFrame:
    """The last ``last_minutes`` minutes of the series, one row per minute, with a spike flag and a
    ``partial`` flag for the minute still being counted (from ``as_of``, the snapshot's; never a spike);
    metrics are NaN (drawn as nothing) before the first minute with transactions."""
    frame = pd.DataFrame({"minute": pd.to_datetime(series.minutes, utc=True, errors="coerce")})
    for metric in ("count", "amount", "fraud_rate", "latency_p95_ms"):
        values = list(series.values.get(metric, []))
        values += [0.0] * (len(frame) - len(values))  # a short metric list must not break the page
        frame[metric] = pd.to_numeric(pd.Series(values[: len(frame)], dtype="float64"), errors="coerce")
    partial_from = pd.to_datetime(as_of or None, utc=True, errors="coerce")
    frame["partial"] = frame["minute"] >= partial_from if not pd.isna(partial_from) else False
    complete = ~frame["partial"]
    frame["spike"] = False
    frame.loc[complete, "spike"] = view.fraud_spikes(frame.loc[complete, "count"].tolist(),
                                                     frame.loc[complete, "fraud_rate"].tolist())
    frame = frame.dropna(subset=["minute"]).sort_values("minute")
    if frame.empty:
        return frame
    # The series is zero-filled over 24 h; minutes before the first transaction are no data, not zero.
    traffic = frame.loc[frame["count"] > 0, "minute"]
    no_data = frame["minute"] < traffic.min() if not traffic.empty else pd.Series(True, index=frame.index)
    frame.loc[no_data, ["count", "amount", "fraud_rate", "latency_p95_ms"]] = float("nan")
    cutoff = frame["minute"].max() - pd.Timedelta(minutes=last_minutes - 1)
    frame = frame[frame["minute"] >= cutoff].copy()
    frame["fraud_pct"] = frame["fraud_rate"] * 100
    return frame


def _line(frame: pd.DataFrame, field: str, title: str, fmt: str) -> alt.LayerChart | alt.FacetChart:
    """The complete minutes as a line (straight segments: nothing invented between minutes), and the
    partial minute, which is still filling, as a hollow point apart from it."""
    tooltip = [alt.Tooltip("minute:T", format="%Y-%m-%d %H:%M"), alt.Tooltip(f"{field}:Q", format=fmt)]
    base = alt.Chart(frame).encode(
        x=alt.X("minute:T", title=None, axis=alt.Axis(format="%H:%M")), y=alt.Y(f"{field}:Q", title=title)
    )
    line = base.transform_filter("!datum.partial").mark_line(color=LINE_COLOR).encode(tooltip=tooltip)
    partial = base.transform_filter("datum.partial").mark_point(color=LINE_COLOR, filled=False, size=60).encode(
        tooltip=[*tooltip, alt.Tooltip("partial:N", title="minute still counting")])
    return alt.layer(line, partial).properties(height=220)


def tpm_chart(frame: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    return _line(frame, "count", "transactions / min", ",.0f")


def latency_chart(frame: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    return _line(frame, "latency_p95_ms", "p95 latency (ms)", ",.1f")


def fraud_chart(frame: pd.DataFrame) -> alt.LayerChart | alt.FacetChart:
    """Fraud rate per minute, spikes as red points on the line."""
    line = _line(frame, "fraud_pct", "fraud rate (%)", ".2f")
    spikes = (
        alt.Chart(frame[frame["spike"]])
        .mark_point(color=SPIKE_COLOR, filled=True, size=80)
        .encode(
            x="minute:T",
            y="fraud_pct:Q",
            tooltip=[
                alt.Tooltip("minute:T", format="%H:%M"),
                alt.Tooltip("fraud_pct:Q", format=".2f", title="spike %"),
            ],
        )
    )
    return alt.layer(line, spikes)


def revenue_chart(revenue: dict[str, float]) -> alt.Chart:
    frame = pd.DataFrame(sorted(revenue.items(), key=lambda kv: -kv[1]), columns=["category", "revenue"])
    return (
        alt.Chart(frame)
        .mark_bar(color=LINE_COLOR)
        .encode(
            x=alt.X("revenue:Q", title="revenue (commission)"),
            y=alt.Y("category:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            tooltip=["category:N", alt.Tooltip("revenue:Q", format=",.2f")],
        )
        .properties(height=max(160, 30 * len(frame)))
    )


def alerts_frame(alerts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        {
            "time": view.fmt_time(str(a.get("event_time", ""))),
            "transaction": a.get("transaction_id", ""),
            "customer": a.get("customer_id", ""),
            "merchant": a.get("merchant_id", ""),
            "amount": a.get("amount"),
            "rule": ", ".join(str(r) for r in a.get("rules") or []) or "—",
            "labelled fraud": bool(a.get("is_fraud")),
        }
        for a in alerts
    ]
    return pd.DataFrame(rows)


def archive_frame(batches: list[dict[str, Any]]) -> pd.DataFrame:
    """The last archive batches, compact enough for half the page (full timestamps cut off its last column
    at 1400 px): the events' span in UTC, the batch's size, its state, when it completed, and its id."""
    rows = [
        {
            "events (UTC)": view.fmt_span(str(b.get("range_start", "")), str(b.get("range_end", ""))),
            "rows": b.get("rows"),
            "MB": round(float(b.get("bytes") or 0) / 1e6, 2),
            "state": b.get("state", ""),
            "done": view.fmt_clock(str(b.get("completed_at") or "")),
            "batch": b.get("batch_id", ""),
        }
        for b in batches
    ]
    return pd.DataFrame(rows)


# --- history view: the daily marts and the data-quality gate runs ------------------------------------
AMOUNT_COLOR = "#9ecae1"
COMMISSION_COLOR = "#ff7f0e"
RATE_COLORS = alt.Scale(domain=["fraud rate", "flagged by rules"], range=[SPIKE_COLOR, LINE_COLOR])
DAY_X = alt.X("utcyearmonthdate(date):T", title=None, axis=alt.Axis(format="%m-%d"))  # UTC dates: no local shift


def days_frame(days: list[Day]) -> pd.DataFrame:
    """One row per calendar date from the first published date to the last; dates without a published day
    are rows of NaN, so lines break there instead of bridging a gap as if it had been measured."""
    rows = [{"date": d.date, "transactions": d.transactions, "amount": d.amount, "approved_amount": d.approved_amount,
             "commission": d.commission, "fraud_rate": d.fraud_rate, "flagged_share": d.flagged_share,
             "rule_precision": d.rule_precision} for d in days]
    frame = pd.DataFrame(rows, columns=["date", "transactions", "amount", "approved_amount", "commission",
                                        "fraud_rate", "flagged_share", "rule_precision"])
    if frame.empty:
        return frame
    frame = frame.astype({c: "float64" for c in frame.columns if c != "date"})  # None → NaN
    calendar = pd.date_range(min(frame["date"]), max(frame["date"]), freq="D").strftime("%Y-%m-%d")
    frame = frame.set_index("date").reindex(calendar).rename_axis("date").reset_index()
    frame["fraud_pct"] = frame["fraud_rate"] * 100
    frame["flagged_pct"] = frame["flagged_share"] * 100
    return frame


def daily_revenue_chart(frame: pd.DataFrame) -> alt.LayerChart:
    """Amount per day as bars (left axis) and commission as a line with points (right axis): commission is ~2 %
    of the amount, so on one axis it would be a flat line at zero."""
    tooltip = [alt.Tooltip("date:N", title="date"), alt.Tooltip("amount:Q", format=",.2f"),
               alt.Tooltip("approved_amount:Q", format=",.2f", title="approved"),
               alt.Tooltip("commission:Q", format=",.2f"), alt.Tooltip("transactions:Q", format=",.0f")]
    base = alt.Chart(frame).encode(x=DAY_X, tooltip=tooltip)
    bars = base.mark_bar(color=AMOUNT_COLOR).encode(
        y=alt.Y("amount:Q", title="amount / day", axis=alt.Axis(titleColor="#3182bd", format="~s")))
    line = base.mark_line(color=COMMISSION_COLOR, interpolate="linear", point=True).encode(
        x=alt.X("utcyearmonthdate(date):T", bandPosition=0.5),
        y=alt.Y("commission:Q", title="commission / day", axis=alt.Axis(titleColor=COMMISSION_COLOR, format="~s")))
    return alt.layer(bars, line).resolve_scale(y="independent").properties(height=260)


def daily_rates_chart(frame: pd.DataFrame) -> alt.Chart:
    """Fraud rate and the share flagged by the rules per day: straight segments, every day a point."""
    long = frame.melt(id_vars=["date"], value_vars=["fraud_pct", "flagged_pct"], var_name="series", value_name="pct")
    long["series"] = long["series"].map({"fraud_pct": "fraud rate", "flagged_pct": "flagged by rules"})
    return (
        alt.Chart(long)
        .mark_line(interpolate="linear", point=True)
        .encode(
            x=DAY_X,
            y=alt.Y("pct:Q", title="% of transactions"),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="top"), scale=RATE_COLORS),
            tooltip=[alt.Tooltip("date:N", title="date"), "series:N", alt.Tooltip("pct:Q", format=".2f", title="%")],
        )
        .properties(height=260)
    )


def top_merchants_frame(rows: list[TopMerchant]) -> pd.DataFrame:
    return pd.DataFrame([{"merchant": r.merchant_id, "name": r.name, "category": r.category, "country": r.country,
                          "transactions": r.transactions, "sales": r.sales, "commission": r.commission,
                          "fraud rate": view.fmt_rate(r.fraud_rate)} for r in rows])


def segments_frame(rows: list[Segment]) -> pd.DataFrame:
    return pd.DataFrame([{"segment": r.rfm_segment, "customers": r.customers, "monetary": r.monetary,
                          "fraud ratio": view.fmt_rate(r.fraud_ratio)} for r in rows])


def segments_chart(frame: pd.DataFrame) -> alt.Chart:
    """Customers per RFM segment, the segment's spend in the tooltip."""
    return (
        alt.Chart(frame)
        .mark_bar(color=LINE_COLOR)
        .encode(
            x=alt.X("customers:Q", title="customers"),
            y=alt.Y("segment:N", sort="-x", title=None, axis=alt.Axis(labelOverlap=False)),
            tooltip=["segment:N", alt.Tooltip("customers:Q", format=",.0f"),
                     alt.Tooltip("monetary:Q", format=",.2f"), "fraud ratio:N"],
        )
        .properties(height=max(160, 30 * len(frame)))
    )


def checks_frame(gate: GateRun) -> pd.DataFrame:
    """The gate run's checks, failed ones first (the rest keep the writer's order)."""
    checks = sorted(gate.checks, key=lambda c: c.passed)
    return pd.DataFrame([{"check": c.name, "passed": history_view.fmt_passed(c.passed), "count": c.count,
                          "sample ids": history_view.fmt_sample(c.sample), "detail": c.detail} for c in checks],
                        columns=["check", "passed", "count", "sample ids", "detail"])


def gate_runs_frame(runs: list[GateRun]) -> pd.DataFrame:
    return pd.DataFrame([{"date": r.date, "finished": view.fmt_time(r.finished_at),
                          "passed": history_view.fmt_passed(history_view.run_passed(r)), "checks": len(r.checks),
                          "failed": ", ".join(c.name for c in r.failed) or "—", "run": r.run_id} for r in runs],
                        columns=["date", "finished", "passed", "checks", "failed", "run"])
