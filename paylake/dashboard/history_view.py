"""Pure formatting for the History view (the daily marts and the data-quality gate runs): text in, text out.

Kept apart from view.py, the live page's, so both stay small; the number formats are view.py's, so a figure
reads the same on both tabs.
"""

from __future__ import annotations

from paylake.dashboard.history import Day, GateRun
from paylake.dashboard.view import fmt_amount, fmt_count, fmt_rate, fmt_time

RATIOS = ("fraud_rate", "flagged_share", "rule_precision")
DAY_FIGURES = ("transactions", "amount", "commission", *RATIOS)


def fmt_passed(passed: bool) -> str:
    return "✓" if passed else "✗"


def fmt_sample(sample: list[str], limit: int = 5) -> str:
    """A check's offending ids, the first ``limit`` of them, with how many more were sampled."""
    more = len(sample) - limit
    return (", ".join(sample[:limit]) + (f" (+{more})" if more > 0 else "")) or "—"


def run_passed(run: GateRun) -> bool:
    """A run passed only if it says so and no check failed: a contradiction reads as a failure, not a pass."""
    return run.passed and not run.failed


def gate_status(gate: GateRun | None) -> tuple[str, str]:
    """("none" | "passed" | "failed", one line for the page) for the last data-quality gate run."""
    if gate is None:
        return "none", "Data quality: no gate run yet (the daily_marts DAG runs the gates before publishing a date)"
    head = f"Data quality: last gate run for {gate.date}"
    if run_passed(gate):
        return "passed", f"{head} passed ({len(gate.checks)} checks, finished {fmt_time(gate.finished_at)})"
    failed = ", ".join(f"{c.name} ({c.count:,})" for c in gate.failed) or "no check reported as failed"
    # The gate runs before a build is published: a failed run kept that build out (an earlier one may stand).
    return "failed", f"{head} FAILED: {failed} — this build was not published"


def history_span(first: str, last: str, published: int, calendar_days: int) -> str:
    """"35 published date(s), 2026-10-27 to 2026-11-30", and how many dates in between were not published."""
    if not published:
        return "no published date"
    gaps = calendar_days - published
    text = f"{published} published date(s), {first} to {last}"
    return text + (f" ({gaps} date(s) in between not published: gaps in the lines)" if gaps > 0 else "")


def day_values(day: Day) -> dict[str, str]:
    """The latest published day's figures (DAY_FIGURES) as the history view shows them."""
    out = {"transactions": fmt_count(day.transactions), "amount": fmt_amount(day.amount),
           "commission": fmt_amount(day.commission)}
    return out | {key: fmt_rate(getattr(day, key)) for key in RATIOS}


def _signed(text: str, value: float) -> str:
    return text if value < 0 else f"+{text}"


def day_deltas(day: Day, previous: Day | None) -> dict[str, str | None]:
    """st.metric deltas against the previous published date (which may be days before, when dates are
    missing); ratios change in percentage points; None where either side has no figure."""
    out: dict[str, str | None] = dict.fromkeys(DAY_FIGURES)
    if previous is None:
        return out
    diff = day.transactions - previous.transactions
    out["transactions"] = _signed(fmt_count(diff), diff)
    for key in ("amount", "commission"):
        change = getattr(day, key) - getattr(previous, key)
        out[key] = _signed(fmt_amount(change), change)
    for key in RATIOS:
        now, before = getattr(day, key), getattr(previous, key)
        if now is not None and before is not None:
            out[key] = _signed(f"{(now - before) * 100:.2f} pp", now - before)
    return out
