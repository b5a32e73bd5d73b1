"""A full, self-consistent synthetic Redis state (24 h snapshot, alerts, hot size, archive batches, 35 days of
daily marts history and the data-quality gate runs).

For the dashboard benchmark, the browser test and screenshots, where days of real traffic are too slow to make.
Headlines are summed from the generated series, so the page's deltas are meaningful; tests that need
figures computed by the real KPI job use paylake.kpi.job instead.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, date, datetime, timedelta

import redis

from paylake import names, schema
from paylake.kpi import snapshot as kpi_snapshot
from paylake.kpi.snapshot import Headline, Series, Snapshot

CATEGORIES = ("grocery", "electronics", "travel", "restaurants", "fashion", "fuel", "health", "entertainment")
RULES = ("velocity", "amount", "travel", "odd_hour")  # as in paylake.kpi.rules
CITIES = (("Paris", "FR"), ("Berlin", "DE"), ("Madrid", "ES"), ("Milan", "IT"), ("Lyon", "FR"), ("Porto", "PT"))
SEGMENTS = (("champions", 610, 2_350.0, 0.004), ("loyal", 940, 1_420.0, 0.006), ("new", 520, 310.0, 0.021),
            ("at_risk", 780, 890.0, 0.011), ("hibernating", 1_130, 160.0, 0.009), ("potential", 1_020, 540.0, 0.008))
# The gate's checks as the marts job names and describes them (paylake.marts.gates): uniqueness, not-null,
# references, ranges, accepted values, and each mart's row count against the fact.
CHECKS = {
    "unique_transaction_id": "each transaction id once across hot and cold",
    **{f"not_null_{key}": f"{key} is set" for key in ("transaction_id", "event_time", "customer_id", "merchant_id")},
    "referential_merchant": "merchant_id is in merchants",
    "referential_customer": "customer_id is in customers",
    "referential_category": "the merchant's category is in categories",
    "range_amount": "amount > 0",
    **{f"accepted_{f.name}": f"{f.name} in {', '.join(f.allowed)}" for f in schema.FIELDS if f.allowed},
    "range_latitude": "latitude >= -90 and <= 90",
    "range_longitude": "longitude >= -180 and <= 180",
    "range_latency_ms": "latency_ms >= 0",
    "row_count": "each mart counts the date's fact rows exactly",
}


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


def _day(day: date, rng: random.Random, episode: bool) -> dict[str, object]:
    weekly = {4: 1.12, 5: 1.15, 6: 0.9}.get(day.weekday(), 1.0)  # busier Friday and Saturday, quiet Sunday
    transactions = round(172_800 * weekly * rng.gauss(1, 0.03))
    amount = round(transactions * rng.gauss(62.0, 1.5), 2)
    fraud_count = round(transactions * rng.gauss(0.031 if episode else 0.018, 0.0015))
    flagged = round(fraud_count * rng.gauss(1.6, 0.08))
    return {"date": day.isoformat(), "transactions": transactions, "amount": amount,
            "approved_amount": round(amount * rng.gauss(0.86, 0.01), 2), "avg_ticket": round(amount / transactions, 2),
            "fraud_count": fraud_count, "fraud_rate": fraud_count / transactions, "flagged": flagged,
            "flagged_share": flagged / transactions, "rule_precision": round(rng.gauss(0.41, 0.03), 4),
            "commission": round(amount * 0.021, 2)}


def _top_merchants(rng: random.Random) -> list[dict[str, object]]:
    rows = []
    for rank in range(10):
        city, country = CITIES[rank % len(CITIES)]
        category, number = CATEGORIES[(rank * 3) % len(CATEGORIES)], 17 + 41 * rank
        transactions = round(900 / (1 + 0.25 * rank) * rng.gauss(1, 0.05))
        sales = round(transactions * rng.gauss(95.0, 8.0), 2)
        rows.append((sales, {"merchant_id": f"M{number:05d}", "name": f"{city} {category.title()} #{number}",
                             "category": category, "country": country, "transactions": transactions, "sales": sales,
                             "commission": round(sales * 0.021, 2), "fraud_rate": round(rng.uniform(0, 0.02), 4)}))
    return [row for _, row in sorted(rows, key=lambda r: -r[0])]  # top by sales, as the mart ranks them


def marts_history(now: datetime, days: int = 35, seed: int = 13) -> dict[str, object]:
    """names.MARTS_HISTORY's payload: ``days`` dates up to yesterday (UTC), a fraud episode 9 days ago,
    the latest date's top 10 merchants and RFM segments."""
    rng = random.Random(seed)
    last = now.astimezone(UTC).date() - timedelta(days=1)  # a date's marts are built once it is over
    dates = [last - timedelta(days=days - 1 - i) for i in range(days)]
    segments = [{"rfm_segment": name, "customers": n, "monetary": round(n * spend, 2), "fraud_ratio": ratio}
                for name, n, spend, ratio in SEGMENTS]
    built = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC) + timedelta(minutes=7)
    return {"updated_at": built.isoformat(),  # just after the gate run that let the date publish
            "days": [_day(d, rng, episode=d == last - timedelta(days=9)) for d in dates],
            "top_merchants": {"date": last.isoformat(), "rows": _top_merchants(rng)},
            "segments": {"date": last.isoformat(), "rows": segments}}


def gate_runs(now: datetime, count: int = 5) -> list[dict[str, object]]:
    """Gate runs of the last ``count`` dates, newest first, every check passed (as names.DQ_RECENT holds them)."""
    last = now.astimezone(UTC).date() - timedelta(days=1)
    runs = []
    for i in range(count):
        day = last - timedelta(days=i)
        finished = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) + timedelta(minutes=5, seconds=i)
        runs.append({"run_id": f"{finished:%Y-%m-%dT%H%M%S}-{random.Random(i).getrandbits(24):06x}",
                     "date": day.isoformat(), "finished_at": finished.isoformat(), "passed": True,
                     "checks": [{"name": name, "passed": True, "count": 0, "sample": [], "detail": detail}
                                for name, detail in CHECKS.items()]})
    return runs


def publish_history(client: redis.Redis, now: datetime, runs: list[dict[str, object]] | None = None) -> None:
    """Write 35 days of marts history and gate runs (default: ``gate_runs(now)``; the first, the newest, is
    also the last run), as the marts job would; nothing else is touched."""
    runs = gate_runs(now) if runs is None else runs
    pipe = client.pipeline(transaction=True)
    pipe.delete(names.DQ_RECENT)
    pipe.set(names.MARTS_HISTORY, json.dumps(marts_history(now)))
    pipe.set(names.DQ_LAST, json.dumps(runs[0]))
    pipe.rpush(names.DQ_RECENT, *[json.dumps(r) for r in runs])
    pipe.execute()


def publish_all(client: redis.Redis, now: datetime) -> Snapshot:
    """Write a full synthetic state: snapshot, 200 alerts, hot size, 10 archive batches, 35 days of marts
    history and 5 gate runs (the newest also as the last run)."""
    snap = build_snapshot(now)
    kpi_snapshot.publish(client, snap)
    publish_history(client, now)
    pipe = client.pipeline(transaction=True)
    pipe.delete(names.ALERTS_RECENT, names.ARCHIVE_RECENT)
    pipe.rpush(names.ALERTS_RECENT, *[json.dumps(a) for a in alerts(now)])
    pipe.rpush(names.ARCHIVE_RECENT, *[json.dumps(b) for b in archive_batches(now)])
    pipe.hset(names.HOT_SIZE, mapping={"data_mb": 212.4, "threshold_mb": 300.0, "low_water_mb": 240.0,
                                       "checked_at": now.isoformat(), "docs": 431_207})
    pipe.execute()
    return snap
