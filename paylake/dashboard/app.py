"""paylake dashboard. Reads only Redis (paylake.dashboard.data); all logic lives in paylake.dashboard.

Run: `paylake dashboard` (or `streamlit run streamlit/app.py` in the checkout). Two tabs, Live and History;
only the open one runs (the tabs rerun the app on a switch, and the open tab is in the URL: ?view=History).
Each is one st.fragment that reruns every PAYLAKE_DASHBOARD_REFRESH_S seconds, so the History tab also
picks up a newly published date by itself; a Redis outage becomes a message and the next rerun tries again,
so the page recovers by itself.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st
from paylake import names
from paylake.dashboard import charts, data, history_page, history_view, view
from paylake.settings import Settings, SettingsError, load_settings

st.set_page_config(page_title="paylake · live payments", layout="wide")


@st.cache_resource
def _client(redis_url: str):  # type: ignore[no-untyped-def]
    return data.connect(redis_url)  # one connection pool per server process, shared by sessions


def _marker(state: str, element_id: str = "paylake-state", **values: object) -> None:
    """A hidden element with the exact figures shown, for the browser test (floats via repr: no rounding)."""
    attrs = " ".join(f'data-{k.replace("_", "-")}="{html.escape(str(v))}"' for k, v in values.items())
    st.html(f'<div id="{element_id}" data-state="{state}" {attrs} hidden></div>')


def _freshness(settings: Settings, snap: data.Snapshot) -> bool:
    age = view.snapshot_age_s(snap.published_at, datetime.now(UTC))
    stale = view.is_stale(age, settings.dashboard_stale_s)
    text = f"KPI snapshot published {view.fmt_age(age)} ago · data up to {view.fmt_time(snap.watermark)}"
    if stale:
        st.warning(f"**Stale KPIs** — {text}; the KPI job has not published for over "
                   f"{view.fmt_age(settings.dashboard_stale_s)}. Is the kpi_refresh DAG running?")
    else:
        st.caption(f":green[●] {text} · refreshing every {settings.dashboard_refresh_s:g} s")
    return stale


def _headlines(snap: data.Snapshot, window: str) -> None:
    headline = snap.headlines.get(window)
    if headline is None:
        st.info(f"The snapshot has no figures for the {view.WINDOW_LABELS[window]} window yet.")
        return
    shown = view.headline_values(headline)
    delta = view.deltas(view.compare(snap, window))
    note = ("delta: the last complete minutes of this length vs the same length before"
            if view.compare(snap, window) else "no previous window to compare")
    top = st.columns(4)
    top[0].metric("Transactions", shown["count"], delta["count"], help=note, border=True)
    top[1].metric("Amount", shown["amount"], delta["amount"], help=note, border=True)
    top[2].metric("Fraud rate", shown["fraud_rate"], delta["fraud_rate"], delta_color="inverse", help=note, border=True)
    top[3].metric("Latency p95", shown["latency_p95_ms"], delta["latency_p95_ms"], delta_color="inverse",
                  help=f"{note}; the delta compares count-weighted per-minute p95s (approximate)", border=True)
    more = st.columns(4)
    more[0].metric("Avg ticket", view.fmt_amount(headline.avg_ticket))
    more[1].metric("Transactions / min", f"{headline.tpm:,.1f}")
    more[2].metric("Flagged by rules", view.fmt_rate(headline.flagged_rate if headline.count else None))
    more[3].metric("Revenue (commission)", view.fmt_amount(headline.revenue))


def _charts(snap: data.Snapshot, window: str) -> None:
    minutes = view.chart_minutes(window)
    frame = charts.series_frame(snap.series, minutes, snap.as_of)
    st.subheader(f"Per minute · last {minutes // 60} h")
    if frame.empty:
        st.info("No per-minute series in the snapshot yet.")
        return
    left, mid, right = st.columns(3)
    left.altair_chart(charts.tpm_chart(frame), width="stretch")
    spikes = int(frame["spike"].sum())
    mid.altair_chart(charts.fraud_chart(frame), width="stretch")
    mid.caption(f":red[●] {spikes} fraud-rate spike minute(s)" if spikes else "no fraud-rate spikes")
    right.altair_chart(charts.latency_chart(frame), width="stretch")


def _store_and_alerts(payload: data.DashboardData, window: str) -> None:
    left, right = st.columns(2)
    with left:
        st.subheader(f"Revenue by category · {view.WINDOW_LABELS[window]}")
        revenue = payload.snapshot.revenue_by_category.get(window) if payload.snapshot else None
        if revenue:
            st.altair_chart(charts.revenue_chart(revenue), width="stretch")
        else:
            st.info("No revenue figures for this window yet.")
    with right:
        st.subheader("Hot store")
        hot = payload.hot_size
        if hot is None:
            st.info("No hot-store size measured yet (the archiving DAG records it).")
        else:
            share = hot.data_mb / hot.threshold_mb if hot.threshold_mb else 0.0
            text = f"{hot.data_mb:,.1f} MB of {hot.threshold_mb:,.0f} MB threshold ({share:.0%})"
            text += f" · archives down to {hot.low_water_mb:,.0f} MB · checked {view.fmt_time(hot.checked_at)}"
            st.progress(min(share, 1.0), text=text)
            if share >= 1:
                st.warning("Hot store above its threshold: the next archiving run moves the oldest data to HDFS.")
        st.markdown("**Last archive batches**")
        if payload.archive_batches:
            st.dataframe(charts.archive_frame(payload.archive_batches), hide_index=True, width="stretch")
        else:
            st.caption("No archive batch yet.")
    st.subheader("Recent fraud alerts")
    rules = payload.snapshot.rules if payload.snapshot else {}
    if "precision" in rules or "recall" in rules:
        fired = " · ".join(f"{rule} {n:,}" for rule, n in view.rule_fire_counts(rules).items())
        st.caption(f"All time: rule precision {view.fmt_rate(rules.get('precision'))}, "
                   f"recall {view.fmt_rate(rules.get('recall'))} against the fraud label · fired: {fired or '—'}")
    if payload.alerts:
        st.dataframe(charts.alerts_frame(payload.alerts), hide_index=True, width="stretch", height=300)
    else:
        st.caption("No alerts yet.")


def _load(settings: Settings, element_id: str) -> data.DashboardData | None:
    """One refresh's read of Redis, or None after showing why it failed (the fragment's next run retries)."""
    try:
        return data.load(_client(settings.redis_url))
    except data.DashboardDataError as exc:
        st.error(f"**Redis unreachable or unreadable.** {exc}\n\nRetrying every {settings.dashboard_refresh_s:g} s…")
        _marker("error", element_id, message=str(exc))
        return None


def _live(settings: Settings, window: str) -> None:
    payload = _load(settings, "paylake-state")
    if payload is None:
        return
    snap = payload.snapshot
    stale = _freshness(settings, snap) if snap is not None else False
    history_page.gate_line(payload, caption=True)
    if snap is None:
        st.info("**No KPI snapshot yet.** The KPI job publishes one every minute once transactions arrive; "
                "this page picks it up by itself.")
        _marker("empty")
    else:
        _headlines(snap, window)
        head = snap.headlines.get(window)
        _marker("ok", window=window, version=snap.version, stale=stale, count=head.count if head else "",
                amount=repr(head.amount) if head else "", fraud_rate=repr(head.fraud_rate) if head else "",
                latency_p95_ms=repr(head.latency_p95_ms) if head else "")
        _charts(snap, window)
    _store_and_alerts(payload, window)


def _history(settings: Settings) -> None:
    payload = _load(settings, "paylake-history")
    if payload is None:
        return
    history_page.render(payload)
    marts, gate = payload.marts, payload.gate
    latest = marts.latest if marts else None
    state = "ok" if marts else "malformed" if names.MARTS_HISTORY in payload.problems else "empty"
    _marker(state, "paylake-history", days=len(marts.days) if marts else 0,
            latest=latest.date if latest else "", amount=repr(latest.amount) if latest else "",
            dq="malformed" if names.DQ_LAST in payload.problems else history_view.gate_status(gate)[0],
            dq_date=gate.date if gate else "")


def _guarded(render: Callable[[], None], element_id: str) -> None:
    try:
        render()
    except Exception as exc:  # noqa: BLE001 - the page must show a message, never a traceback
        st.error(f"**The dashboard hit an unexpected error** ({type(exc).__name__}: {exc}); retrying…")
        _marker("error", element_id, message=f"{type(exc).__name__}: {exc}")


def _live_tab(settings: Settings) -> None:
    # required=True: a click on the selected option cannot deselect it, so there is always a window;
    # persist_state: the window survives a visit to the History tab, where this control is not drawn.
    window = st.segmented_control("Window", list(view.WINDOW_LABELS), format_func=lambda w: view.WINDOW_LABELS[w],
                                  default="all", required=True, key="window", persist_state="page") or "all"

    @st.fragment(run_every=settings.dashboard_refresh_s)
    def live() -> None:
        _guarded(lambda: _live(settings, window), "paylake-state")

    live()


def _history_tab(settings: Settings) -> None:
    @st.fragment(run_every=settings.dashboard_refresh_s)
    def history() -> None:
        _guarded(lambda: _history(settings), "paylake-history")

    history()


def main() -> None:
    try:
        settings = load_settings()
    except SettingsError as exc:
        st.error(f"**Configuration error:** {exc}")
        return
    st.title("paylake · live payments")
    # Tracked tabs (on_change="rerun"): only the open tab's fragment runs, instead of both every refresh;
    # bound to the URL so a link (or a screenshot script) can open History directly.
    live_tab, history_tab = st.tabs(["Live", "History"], key="view", on_change="rerun", bind="query-params")
    if live_tab.open:
        with live_tab:
            _live_tab(settings)
    if history_tab.open:
        with history_tab:
            _history_tab(settings)


main()
