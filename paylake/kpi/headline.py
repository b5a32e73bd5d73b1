"""Pure math from minute buckets to the Redis Snapshot (definitions of every KPI are in the README).

Windows end at the watermark and include the current, partial minute (the one starting at ``as_of``, the
watermark's minute): ``1m`` is the last 60 seconds, to a SLOT_S-second slot (the recent slots,
names.KPI_SLOTS); ``15m``, ``1h`` and ``24h`` are the partial minute and the complete minutes
before it, as many as make the length (14, 59, 1,439); "all" covers every bucket, whatever its minute.
The series has one entry per minute for the last 24 h, its last one the partial minute.
Latency quantiles come from the buckets' histograms (histogram.py); a window whose histogram holds fewer
transactions than its count (minutes counted before histogram version 2) gets its p95 from the rest, and
build_snapshot logs a warning naming it.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from paylake import names
from paylake.kpi import histogram
from paylake.kpi.rules import RULES
from paylake.kpi.snapshot import SERIES_METRICS, Headline, Series, Snapshot, new_version

log = logging.getLogger(__name__)
SERIES_MINUTES = 24 * 60
SLOT_S = 5  # the recent slots' length: the last-60-seconds window is exact to this
SLOTTED_WINDOW_S = 60  # windows this short are summed from the slots, longer ones from the minute buckets
# A refresh counts per slot the events at most this long before its range end: every later window of the
# last 60 s (it ends at a later watermark) then finds all its events in the slots.
SLOTTED = timedelta(minutes=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class Bucket:
    """One event-time minute's additive KPI sums (the stored bucket, or a sum of several)."""

    minute: datetime
    count: int = 0
    amount: float = 0.0
    approved_count: int = 0
    approved_amount: float = 0.0
    fraud_count: int = 0
    flagged_count: int = 0
    flagged_fraud_count: int = 0
    latency_sum: float = 0.0
    hist: dict[int, int] = field(default_factory=dict)  # latency histogram (histogram.FIELD when stored)
    revenue: dict[str, float] = field(default_factory=dict)
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, other: Bucket) -> None:
        for name in ("count", "amount", "approved_count", "approved_amount", "fraud_count", "flagged_count",
                     "flagged_fraud_count", "latency_sum"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for bucket, n in other.hist.items():
            self.hist[bucket] = self.hist.get(bucket, 0) + n
        for key, value in other.revenue.items():
            self.revenue[key] = self.revenue.get(key, 0.0) + value
        self.rules = dict(Counter(self.rules) + Counter(other.rules))


def floor_minute(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(second=0, microsecond=0)


def floor_slot(moment: datetime) -> datetime:
    epoch = int((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=epoch - epoch % SLOT_S)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


def total(buckets: Iterable[Bucket], minute: datetime) -> Bucket:
    out = Bucket(minute=minute)
    for bucket in buckets:
        out.add(bucket)
    return out


@dataclass
class AllTime:
    """Every bucket summed, and the minutes they span (kept up to date by the job: see totals.py)."""

    sums: Bucket
    first_minute: datetime | None  # the earliest bucket's minute; None when there is no bucket
    end_minute: datetime | None  # one minute past the latest bucket's minute

    @classmethod
    def of(cls, buckets: Sequence[Bucket]) -> AllTime:
        first = min((b.minute for b in buckets), default=None)
        end = max((b.minute + timedelta(minutes=1) for b in buckets), default=None)
        return cls(total(buckets, first or EPOCH), first, end)


def headline(window: str, start: datetime | None, end: datetime, t: Bucket, minutes: float) -> Headline:
    return Headline(
        window=window,
        start=iso(start) if start else "",
        end=iso(end),
        count=t.count,
        amount=t.amount,
        approved_amount=t.approved_amount,
        avg_ticket=_ratio(t.amount, t.count),
        fraud_count=t.fraud_count,
        fraud_rate=_ratio(t.fraud_count, t.count),
        flagged_count=t.flagged_count,
        flagged_rate=_ratio(t.flagged_count, t.count),
        latency_mean_ms=_ratio(t.latency_sum, t.count),
        latency_p95_ms=histogram.quantile(t.hist, 0.95),
        tpm=_ratio(t.count, minutes),
        revenue=sum(t.revenue.values()),
    )


def build_snapshot(
    buckets: Sequence[Bucket], watermark: datetime, published_at: datetime, all_time: AllTime | None = None,
    slots: Sequence[Bucket] = (),
) -> Snapshot:
    """The snapshot from the buckets of the last 24 h (or more), the recent ``slots`` (SLOT_S-second buckets
    of the last minute or more) and the all-time sums (by default, the sum of ``buckets``, which must then
    be every bucket)."""
    as_of = floor_minute(watermark)
    everything = all_time or AllTime.of(buckets)
    headlines: dict[str, Headline] = {}
    revenue: dict[str, dict[str, float]] = {}
    uncovered: dict[str, tuple[int, int]] = {}  # window: (transactions without a v2 histogram entry, count)
    for window, seconds in names.WINDOWS.items():
        if seconds is None:
            t, start = everything.sums, None
            first = everything.first_minute or as_of
            # Up to the watermark, or to the end of a later minute (events stamped ahead of their ingest).
            later = everything.end_minute is not None and everything.end_minute > as_of + timedelta(minutes=1)
            end = everything.end_minute if later and everything.end_minute else watermark
            minutes = max((end - first).total_seconds() / 60, 1.0)
        else:
            start, parts = window_start(watermark, seconds), (slots if seconds <= SLOTTED_WINDOW_S else buckets)
            t, end = total((b for b in parts if b.minute >= start), as_of), watermark
            minutes = max((end - start).total_seconds(), 1.0) / 60
        headlines[window] = headline(window, start, end, t, minutes)
        revenue[window] = dict(t.revenue)
        if (covered := sum(t.hist.values())) < t.count:
            uncovered[window] = (t.count - covered, t.count)
    if uncovered:
        log.warning(
            "latency p95 leaves out transactions counted before latency histogram v%d (into the old '%s' "
            "field, which is not read): %s", histogram.VERSION, histogram.LEGACY_FIELDS[0],
            ", ".join(f"{w} {left:,} of {n:,}" for w, (left, n) in uncovered.items()),
        )
    return Snapshot(
        version=new_version(published_at),
        as_of=iso(as_of),
        watermark=iso(watermark),
        published_at=iso(published_at),
        headlines=headlines,
        revenue_by_category=revenue,
        series=series(buckets, as_of),
        rules=rule_figures(everything.sums),
    )


def window_start(watermark: datetime, seconds: int) -> datetime:
    """Where a window of ``seconds`` ending at ``watermark`` starts: for a minute or less, the slot that
    makes it that long with the watermark's own (partial) slot; else the minute that does with the
    watermark's own (partial) minute."""
    if seconds <= SLOTTED_WINDOW_S:
        return floor_slot(watermark) - timedelta(seconds=seconds - SLOT_S)
    return floor_minute(watermark) - timedelta(seconds=seconds - 60)


def slots_since(watermark: datetime) -> datetime:
    """The oldest slot a snapshot at ``watermark`` reads."""
    return window_start(watermark, SLOTTED_WINDOW_S)


def slotted_from(upper: datetime) -> datetime:
    """The oldest event time a refresh up to ``upper`` also counts per slot."""
    return floor_slot(upper) - SLOTTED


def series(buckets: Sequence[Bucket], as_of: datetime) -> Series:
    """The last 24 h, one entry per minute, zero-filled, ending with the partial minute that starts at
    ``as_of``; rates are 0 for a minute without transactions."""
    start = as_of - timedelta(minutes=SERIES_MINUTES - 1)
    by_minute = {b.minute: b for b in buckets if start <= b.minute <= as_of}
    minutes = [start + timedelta(minutes=i) for i in range(SERIES_MINUTES)]
    values: dict[str, list[float]] = {metric: [] for metric in SERIES_METRICS}
    for minute in minutes:
        b = by_minute.get(minute) or Bucket(minute=minute)
        values["count"].append(float(b.count))
        values["amount"].append(round(b.amount, 2))
        values["fraud_rate"].append(_ratio(b.fraud_count, b.count))
        values["latency_p95_ms"].append(histogram.quantile(b.hist, 0.95))
        values["latency_mean_ms"].append(_ratio(b.latency_sum, b.count))
        values["flagged_rate"].append(_ratio(b.flagged_count, b.count))
        values["revenue"].append(round(sum(b.revenue.values()), 4))
    return Series(minutes=[iso(m) for m in minutes], values=values)


def rule_figures(t: Bucket) -> dict[str, float]:
    """All-time precision and recall of the rules against the labels, and how often each rule fired."""
    figures = {
        "precision": _ratio(t.flagged_fraud_count, t.flagged_count),
        "recall": _ratio(t.flagged_fraud_count, t.fraud_count),
        "flagged_count": float(t.flagged_count),
        "true_positive_count": float(t.flagged_fraud_count),
    }
    figures |= {f"{rule}_count": float(t.rules.get(rule, 0)) for rule in RULES}
    return figures
