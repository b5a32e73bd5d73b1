"""The dashboard's History view: the daily marts (paylake.marts) and the data-quality panel, as Streamlit layout.

Drawn by app.py inside the History tab's fragment from the same DashboardData one refresh reads; the charts
and tables come from charts.py, every figure's text from history_view.py.
"""

from __future__ import annotations

import streamlit as st
from paylake import names
from paylake.dashboard import charts, history_view, view
from paylake.dashboard.data import DashboardData
from paylake.dashboard.history import MartsHistory

NO_MARTS = ("**No marts yet** — run `paylake marts build --date YYYY-MM-DD` or the daily_marts DAG; "
            "this page picks the history up by itself.")
# The latest day's metrics in two rows of three: a day's amount has ten digits and more, too wide for a sixth.
METRIC_ROWS = (
    (("Transactions", "transactions"), ("Amount", "amount"), ("Commission", "commission")),
    (("Fraud rate", "fraud_rate"), ("Flagged by rules", "flagged_share"), ("Rule precision", "rule_precision")),
)
INVERSE = {"fraud_rate", "flagged_share"}  # metrics whose rise is bad news (a red delta)
_MONEY = st.column_config.NumberColumn(format="accounting")  # 1,234.00 like the rest of the page
_COUNT = st.column_config.NumberColumn(format="localized")
COLUMNS = {"sales": _MONEY, "commission": _MONEY, "monetary": _MONEY, "transactions": _COUNT, "customers": _COUNT}


def gate_line(payload: DashboardData, caption: bool) -> None:
    """The last data-quality gate run in one line: an error when it failed, a warning when it cannot be read,
    else a caption (Live) or a box (History)."""
    if names.DQ_LAST in payload.problems:  # not "no gate run yet": there is one, and it is unreadable
        st.warning(payload.problems[names.DQ_LAST])
        return
    level, text = history_view.gate_status(payload.gate)
    if level == "failed":
        st.error(f"**{text}**")
    elif caption:
        st.caption(f":green[●] {text}" if level == "passed" else text)
    else:
        (st.success if level == "passed" else st.info)(text)


def _latest_day(marts: MartsHistory) -> None:
    day, previous = marts.latest, marts.previous
    if day is None:
        return
    shown, delta = history_view.day_values(day), history_view.day_deltas(day, previous)
    note = f"change against the previous published date, {previous.date}" if previous else "no earlier date"
    st.subheader(f"Latest published date · {day.date}")
    for row in METRIC_ROWS:
        for col, (label, key) in zip(st.columns(3), row, strict=True):
            col.metric(label, shown[key], delta[key], help=note, border=True,
                       delta_color="inverse" if key in INVERSE else "normal")


def _marts(marts: MartsHistory) -> None:
    frame = charts.days_frame(marts.days)
    first, last = (marts.days[0].date, marts.days[-1].date) if marts.days else ("", "")
    span = history_view.history_span(first, last, len(marts.days), len(frame))
    st.caption(f"{span} · history updated {view.fmt_time(marts.updated_at)}")
    _latest_day(marts)
    left, right = st.columns(2)
    with left:
        st.subheader("Revenue per day")
        st.altair_chart(charts.daily_revenue_chart(frame), width="stretch")
    with right:
        st.subheader("Fraud rate and flagged share per day")
        st.altair_chart(charts.daily_rates_chart(frame), width="stretch")
    st.subheader(f"Top merchants by sales · {marts.top_merchants_date or '—'}")
    if marts.top_merchants:
        st.dataframe(charts.top_merchants_frame(marts.top_merchants), hide_index=True, width="stretch",
                     column_config=COLUMNS)
    else:
        st.caption("No top-merchants mart published yet.")
    st.subheader(f"Customer segments (RFM) · {marts.segments_date or '—'}")
    if marts.segments:
        segments = charts.segments_frame(marts.segments)
        left, right = st.columns(2)
        left.altair_chart(charts.segments_chart(segments), width="stretch")
        right.dataframe(segments, hide_index=True, width="stretch", column_config=COLUMNS)
    else:
        st.caption("No segments mart published yet.")


def _quality(payload: DashboardData) -> None:
    st.subheader("Data quality")
    gate_line(payload, caption=False)
    if payload.gate is not None:
        st.caption(f"Checks of gate run `{payload.gate.run_id}` (failed first; sample ids: a few offending rows)")
        st.dataframe(charts.checks_frame(payload.gate), hide_index=True, width="stretch")
    if payload.gate_runs:
        st.markdown("**Recent gate runs**")
        st.dataframe(charts.gate_runs_frame(payload.gate_runs), hide_index=True, width="stretch")


def render(payload: DashboardData) -> None:
    """The whole History view: the marts, or how to build them, then the data-quality panel."""
    if payload.marts is not None:
        _marts(payload.marts)
    elif names.MARTS_HISTORY in payload.problems:  # not "no marts yet": they exist, and cannot be read
        st.warning(payload.problems[names.MARTS_HISTORY])
    else:
        st.info(NO_MARTS)
    _quality(payload)
