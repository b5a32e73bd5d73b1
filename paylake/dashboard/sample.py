"""A full, self-consistent synthetic Redis state (24 h snapshot, alerts, hot size, archive batches).

For the dashboard benchmark, where a day of real traffic is too slow to make.
Headlines are summed from the generated series, so the page's deltas are meaningful; tests that need
figures computed by the real KPI job use paylake.kpi.job instead.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta

import redis

from paylake import names
from paylake.kpi import snapshot as kpi_snapshot
from paylake.kpi.snapshot import Headline, Series, Snapshot

CATEGORIES = ("grocery", "electronics", "travel", "restaurants", "fashion", "fuel", "health", "entertainment")
RULES = ("velocity", "amount", "travel", "odd_hour")  # as in paylake.kpi.rules


def build_snapshot(now: datetime, seed: int = 7, minutes: int = 1440) -> Snapshot:
    rng = random.Random(seed)
    as_of = now.astimezone(UTC).replace(second=0, microsecond=0)
    starts = [as_of - timedelta(minutes=minutes - i) for i in range(minutes)]
    metrics = ("count", "amount", "fraud_rate", "latency_p95_ms", "latency_mean_ms", "flagged_rate", "revenue")
    values: dict[str, list[float]] = {m: [] for m in metrics}
    spikes = {minutes - 37, minutes - 412, minutes - 905}
    for i, start in enumerate(starts):
        daily = 1 + 0.5 * math.sin((start.hour * 60 + start.minute) / 1440 * 2 * math.pi - 2)
        count = max(1, round(rng.gauss(120 * daily, 9)))
        frauds = rng.gauss(0.018, 0.004) * (4.5 if i in spikes else 1)
        values["count"].append(float(count))
        values["amount"].append(round(count * rng.gauss(62.0, 4.0), 2))
        values["fraud_rate"].append(max(0.0, round(frauds, 5)))
        values["latency_p95_ms"].append(round(rng.gauss(310, 25) + (60 if daily > 1.3 else 0), 1))
        values["latency_mean_ms"].append(round(rng.gauss(140, 10), 1))
        values["flagged_rate"].append(max(0.0, round(frauds * rng.gauss(1.6, 0.2), 5)))
        values["revenue"].append(round(values["amount"][-1] * 0.021, 4))
    series = Series(minutes=[s.isoformat() for s in starts], values=values)
    headlines = {w: _headline(w, series, starts, as_of) for w in names.WINDOWS}
    revenue = {w: _revenue(headlines[w].revenue, rng) for w in names.WINDOWS}
    return Snapshot(
        version=kpi_snapshot.new_version(now),
        as_of=as_of.isoformat(),
        watermark=(as_of + timedelta(seconds=5)).isoformat(),
        published_at=now.isoformat(),
        headlines=headlines,
        revenue_by_category=revenue,
        series=series,
        rules={"precision": 0.41, "recall": 0.63} | {f"{r}_count": float(90 + 37 * i) for i, r in enumerate(RULES)},
    )


def _headline(window: str, series: Series, starts: list[datetime], as_of: datetime) -> Headline:
    seconds = names.WINDOWS[window]
    # "all" pretends three earlier days went to the archive: same shape, so the figures stay plausible.
    scale = 4 if seconds is None else 1
    begin = starts[0] if seconds is None else as_of - timedelta(seconds=seconds)
    idx = [i for i, s in enumerate(starts) if s >= begin]
    v = series.values
    count = sum(v["count"][i] for i in idx) * scale
    amount = sum(v["amount"][i] for i in idx) * scale
    frauds = sum(v["fraud_rate"][i] * v["count"][i] for i in idx) * scale
    flagged = sum(v["flagged_rate"][i] * v["count"][i] for i in idx) * scale
    p95 = sum(v["latency_p95_ms"][i] * v["count"][i] for i in idx) * scale / count
    mean = sum(v["latency_mean_ms"][i] * v["count"][i] for i in idx) * scale / count
    return Headline(
        window=window,
        start="" if seconds is None else begin.isoformat(),
        end=as_of.isoformat(),
        count=int(count),
        amount=round(amount, 2),
        approved_amount=round(amount * 0.86, 2),
        avg_ticket=round(amount / count, 2),
        fraud_count=round(frauds),
        fraud_rate=round(frauds) / count,
        flagged_count=round(flagged),
        flagged_rate=round(flagged) / count,
        latency_mean_ms=round(mean, 1),
        latency_p95_ms=round(p95, 1),
        tpm=round(count / (len(idx) * scale), 2),
        revenue=round(amount * 0.021, 2),
    )


def _revenue(total: float, rng: random.Random) -> dict[str, float]:
    weights = [rng.uniform(0.4, 2.0) for _ in CATEGORIES]
    return {c: round(total * w / sum(weights), 2) for c, w in zip(CATEGORIES, weights, strict=True)}


def alerts(now: datetime, count: int = names.ALERTS_RECENT_MAX, seed: int = 11) -> list[dict[str, object]]:
    rng = random.Random(seed)
    return [
        {
            "transaction_id": f"tx{rng.getrandbits(40):010x}",
            "event_time": (now - timedelta(seconds=17 * i + rng.randint(0, 9))).isoformat(),
            "customer_id": f"C{rng.randint(0, 4999):05d}",
            "merchant_id": f"M{rng.randint(0, 499):05d}",
            "amount": round(rng.lognormvariate(5, 1), 2),
            "rules": rng.sample(RULES, k=rng.choice((1, 1, 2))),
            "is_fraud": rng.random() < 0.4,
        }
        for i in range(count)
    ]


def archive_batches(now: datetime, count: int = 10) -> list[dict[str, object]]:
    out = []
    for i in range(count):
        end = now - timedelta(days=1, hours=6 * i)
        out.append({"batch_id": f"b{end:%Y%m%d%H}", "range_start": (end - timedelta(hours=6)).isoformat(),
                    "range_end": end.isoformat(), "rows": 180_000 + 997 * i, "bytes": 9_800_000 + 31_000 * i,
                    "state": "complete", "completed_at": (end + timedelta(days=1, minutes=3)).isoformat()})
    return out


def publish_all(client: redis.Redis, now: datetime) -> Snapshot:
    """Write a full synthetic state: snapshot, 200 alerts, hot size, 10 archive batches."""
    snap = build_snapshot(now)
    kpi_snapshot.publish(client, snap)
    pipe = client.pipeline(transaction=True)
    pipe.delete(names.ALERTS_RECENT, names.ARCHIVE_RECENT)
    pipe.rpush(names.ALERTS_RECENT, *[json.dumps(a) for a in alerts(now)])
    pipe.rpush(names.ARCHIVE_RECENT, *[json.dumps(b) for b in archive_batches(now)])
    pipe.hset(names.HOT_SIZE, mapping={"data_mb": 212.4, "threshold_mb": 300.0, "low_water_mb": 240.0,
                                       "checked_at": now.isoformat(), "docs": 431_207})
    pipe.execute()
    return snap
