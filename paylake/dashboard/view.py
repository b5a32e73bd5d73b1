"""Pure dashboard logic: previous-window comparison, fraud-spike detection, staleness and formatting.

Previous window: a headline window ends at the watermark and includes the minute still being counted, so
its delta compares whole minutes instead: the window's length of complete minutes before ``as_of`` against
the same length before that. Both sides are summed from the per-minute series, which covers only the last
24 h; so 1m, 15m and 1h have a previous window, while 24h (its previous day is outside the series) and
"all" (nothing precedes all time) show no delta. Both sides of a delta are computed from the series by the
same method: count, amount and fraud rate are exact sums; p95 latency cannot be merged exactly from
per-minute p95s, so it is approximated on both sides by the count-weighted mean of the minute p95s.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from paylake import names
from paylake.kpi.snapshot import Headline, Series, Snapshot

WINDOW_LABELS: dict[str, str] = {"1m": "1 min", "15m": "15 min", "1h": "1 h", "24h": "24 h", "all": "all time"}
SERIES_SPAN = timedelta(hours=24)  # the snapshot's per-minute series covers the last 24 h (snapshot contract)


@dataclass(frozen=True)
class Figures:
    """The compared KPIs of one span of minutes. Rates and latency are None when the span had no traffic."""

    count: int
    amount: float
    fraud_rate: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True)
class Comparison:
    current: Figures
    previous: Figures


def parse_time(text: str) -> datetime | None:
    """An ISO-8601 timestamp, or None for ""/garbage (a missing field must not break the page)."""
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def span_figures(series: Series, start: datetime, end: datetime) -> Figures:
    """Sum the series minutes in [start, end); minutes absent from the series count as no traffic."""
    counts = series.values.get("count", [])
    amounts = series.values.get("amount", [])
    rates = series.values.get("fraud_rate", [])
    p95s = series.values.get("latency_p95_ms", [])
    count = amount = frauds = p95_weighted = 0.0
    for i, minute in enumerate(series.minutes):
        at = parse_time(minute)
        if at is None or not start <= at < end or i >= len(counts):
            continue
        n = counts[i] or 0.0
        count += n
        amount += amounts[i] if i < len(amounts) else 0.0
        frauds += (rates[i] if i < len(rates) else 0.0) * n
        p95_weighted += (p95s[i] if i < len(p95s) else 0.0) * n
    return Figures(
        count=round(count),
        amount=amount,
        fraud_rate=frauds / count if count else None,
        latency_p95_ms=p95_weighted / count if count else None,
    )


def compare(snapshot: Snapshot, window: str) -> Comparison | None:
    """The window's length of complete minutes ending at ``as_of`` (the partial minute is still filling)
    and the same length before it, from the series; None when the series cannot cover both."""
    seconds = names.WINDOWS.get(window)
    as_of = parse_time(snapshot.as_of)
    if window not in snapshot.headlines or seconds is None or as_of is None:
        return None
    start = as_of - timedelta(seconds=seconds)
    previous_start = start - timedelta(seconds=seconds)
    if previous_start < as_of - SERIES_SPAN:
        return None
    return Comparison(span_figures(snapshot.series, start, as_of), span_figures(snapshot.series, previous_start, start))


def fraud_spikes(counts: list[float], rates: list[float], min_count: float = 10, k: float = 3.0) -> list[bool]:
    """Minutes whose fraud rate is a spike: above both mean + k·σ and 2× the median of the series.

    Only minutes with at least ``min_count`` transactions take part: one fraud among three payments is a
    33 % rate but not a signal. Requiring both bounds keeps a flat series (σ≈0) and a noisy one quiet.
    """
    eligible = [r for n, r in zip(counts, rates, strict=False) if n >= min_count]
    if len(eligible) < 3:
        return [False] * len(rates)
    threshold = max(statistics.fmean(eligible) + k * statistics.pstdev(eligible), 2 * statistics.median(eligible))
    return [i < len(counts) and counts[i] >= min_count and r > threshold for i, r in enumerate(rates)]


def snapshot_age_s(published_at: str, now: datetime) -> float | None:
    published = parse_time(published_at)
    return None if published is None else max(0.0, (now - published).total_seconds())


def is_stale(age_s: float | None, threshold_s: float) -> bool:
    """Unknown age counts as stale: an operator must not trust a snapshot nobody dated."""
    return age_s is None or age_s > threshold_s


def rule_fire_counts(rules: dict[str, float]) -> dict[str, int]:
    """Per-rule fire counts from the snapshot's rule figures (``<rule>_count``), without the totals."""
    totals = {"flagged_count", "true_positive_count"}
    return {k.removesuffix("_count"): int(v) for k, v in rules.items() if k.endswith("_count") and k not in totals}


def chart_minutes(window: str) -> int:
    """How many minutes the charts show: the window, at least an hour, at most the 24 h series."""
    seconds = names.WINDOWS.get(window)
    minutes = int(SERIES_SPAN.total_seconds() // 60) if seconds is None else seconds // 60
    return max(60, min(minutes, int(SERIES_SPAN.total_seconds() // 60)))


# --- formatting: one place, so the page and the browser test agree on every digit -----------------------
def fmt_count(value: float) -> str:
    return f"{round(value):,}"


def fmt_amount(value: float) -> str:
    return f"{value:,.2f}"


def fmt_rate(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.2f} %"


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f} ms"


def fmt_time(text: str) -> str:
    """An ISO timestamp as "2026-01-01 12:03:05 UTC" (raw text back when it does not parse)."""
    at = parse_time(text)
    if at is None:
        return text or "—"
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    return at.strftime("%Y-%m-%d %H:%M:%S UTC")


def fmt_clock(text: str) -> str:
    """An ISO timestamp as its UTC time of day, "12:03:05" (raw text back when it does not parse)."""
    at = parse_time(text)
    return (text or "—") if at is None else at.astimezone(UTC).strftime("%H:%M:%S")


def fmt_span(start: str, end: str) -> str:
    """Two ISO timestamps as "12-01 10:00–10:10" (the end's date too when it differs from the start's)."""
    a, b = parse_time(start), parse_time(end)
    if a is None or b is None:
        return f"{start or '—'} – {end or '—'}"
    a, b = a.astimezone(UTC), b.astimezone(UTC)
    return f"{a:%m-%d %H:%M}–{b:%H:%M}" if a.date() == b.date() else f"{a:%m-%d %H:%M}–{b:%m-%d %H:%M}"


def fmt_age(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds // 60:.0f} min {seconds % 60:.0f} s"
    return f"{seconds / 3600:.1f} h"


def _signed(value: float, text: str) -> str:
    return text if value < 0 else f"+{text}"


def deltas(comparison: Comparison | None) -> dict[str, str | None]:
    """st.metric delta strings per headline metric (None = no delta shown)."""
    keys = ("count", "amount", "fraud_rate", "latency_p95_ms")
    if comparison is None:
        return dict.fromkeys(keys)
    cur, prev = comparison.current, comparison.previous
    out: dict[str, str | None] = {
        "count": _signed(cur.count - prev.count, fmt_count(cur.count - prev.count)),
        "amount": _signed(cur.amount - prev.amount, fmt_amount(cur.amount - prev.amount)),
        "fraud_rate": None,
        "latency_p95_ms": None,
    }
    if cur.fraud_rate is not None and prev.fraud_rate is not None:
        points = (cur.fraud_rate - prev.fraud_rate) * 100
        out["fraud_rate"] = _signed(points, f"{points:.2f} pp")
    if cur.latency_p95_ms is not None and prev.latency_p95_ms is not None:
        diff = cur.latency_p95_ms - prev.latency_p95_ms
        out["latency_p95_ms"] = _signed(diff, f"{diff:,.1f} ms")
    return out


def headline_values(headline: Headline) -> dict[str, str]:
    """The four headline numbers as the page shows them."""
    return {
        "count": fmt_count(headline.count),
        "amount": fmt_amount(headline.amount),
        "fraud_rate": fmt_rate(headline.fraud_rate if headline.count else None),
        "latency_p95_ms": fmt_ms(headline.latency_p95_ms if headline.count else None),
    }
