"""Ground truth for the marts tests: varied transactions over three dates, and every mart computed here in
plain Python from the raw hot ∪ cold rows (read back with pymongo and pyarrow, not Spark), the fraud rules
included, independently of paylake.marts and paylake.kpi."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

from archive_support import cold_rows
from kpi_truth import seed_dimensions

from paylake import names, schema
from paylake.settings import Settings

DAY0 = date(2026, 3, 2)  # a Monday
DAYS = [DAY0 + timedelta(days=i) for i in range(3)]
CUSTOMERS, MERCHANTS = 50, 20


def make(n_per_day: int = 250, seed: int = 5) -> list[dict[str, Any]]:
    """Schema-valid records over DAYS: random customers, merchants, amounts, places and labels, plus the
    rules' cases (a burst, an impossible jump, a large night-time amount) and events minutes around midnight."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    start = datetime.combine(DAY0, datetime.min.time(), UTC)
    for i in range(n_per_day * len(DAYS)):
        moment = start + timedelta(seconds=rng.uniform(0, 86400 * len(DAYS)))
        out.append(_record(f"r{i:06d}", moment, rng))
    for k in range(7):  # a card-testing burst across the first midnight
        out.append(_record(f"b{k}", start + timedelta(days=1, minutes=-3 + k), rng, customer_id="C00007", amount=2.0))
    out.append(_record("j0", start + timedelta(hours=30), rng, customer_id="C00011", latitude=40.0, longitude=-74.0))
    out.append(_record("j1", start + timedelta(hours=30, minutes=20), rng, customer_id="C00011",
                       latitude=48.85, longitude=2.35))
    out.append(_record("n0", start + timedelta(days=2, hours=7), rng, longitude=-120.0, amount=900.0))
    return out


def _record(tx: str, moment: datetime, rng: random.Random, **fields: Any) -> dict[str, Any]:
    record = {
        "transaction_id": tx, "event_time": moment.replace(microsecond=(moment.microsecond // 1000) * 1000),
        "ingest_time": moment + timedelta(seconds=1), "customer_id": f"C{rng.randrange(CUSTOMERS):05d}",
        "merchant_id": f"M{rng.randrange(MERCHANTS):05d}", "amount": round(math.exp(rng.gauss(3.5, 0.8)), 2),
        "currency": rng.choice(schema.CURRENCIES), "payment_method": rng.choice(schema.PAYMENT_METHODS),
        "channel": rng.choice(schema.CHANNELS), "device_type": rng.choice(schema.DEVICE_TYPES),
        "is_new_device": rng.random() < 0.1, "latitude": rng.uniform(-60, 60), "longitude": rng.uniform(-179, 179),
        "country": "US", "status": "declined" if rng.random() < 0.1 else "approved",
        "latency_ms": rng.uniform(20, 900), "is_fraud": rng.random() < 0.05,
    }
    return {**record, **fields}


def load(db: Any) -> list[dict[str, Any]]:
    seed_dimensions(db, merchants=MERCHANTS, customers=CUSTOMERS)
    records = make()
    db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in records])
    return records


def lake_rows(settings: Settings, db: Any) -> list[dict[str, Any]]:
    """Every transaction once: cold rows, plus hot rows not in cold (a batch may be in flight)."""
    cold = [{k: v for k, v in r.items() if k not in ("date", "batch")} for r in cold_rows(settings)]
    seen = {r["transaction_id"] for r in cold}
    hot = [schema.from_mongo(d) for d in db[names.TRANSACTIONS].find()]
    return cold + [r for r in hot if r["transaction_id"] not in seen]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _km(a: dict[str, Any], b: dict[str, Any]) -> float:
    la1, lo1, la2, lo2 = map(math.radians, (a["latitude"], a["longitude"], b["latitude"], b["longitude"]))
    h = math.sin((la2 - la1) / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin((lo2 - lo1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def flags(rows: list[dict[str, Any]], db: Any) -> dict[str, bool]:
    """The four rules (paylake.kpi.rules' documented thresholds) per transaction id, over all ``rows``."""
    merchants = {m["_id"]: m for m in db[names.MERCHANTS].find()}
    medians = {c["_id"]: c["median_amount"] for c in db[names.CATEGORIES].find()}
    spend = {c["_id"]: c["spend_index"] for c in db[names.CUSTOMERS].find()}
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_customer[r["customer_id"]].append(r)
    out = {}
    for txs in by_customer.values():
        txs.sort(key=lambda r: (_utc(r["event_time"]), r["transaction_id"]))
        for i, r in enumerate(txs):
            t = _utc(r["event_time"])
            burst = sum(1 for o in txs if t - timedelta(minutes=10) <= _utc(o["event_time"]) <= t) > 5
            expected = medians[merchants[r["merchant_id"]]["category"]] * spend[r["customer_id"]]
            travel = False
            if i:
                gap_h = (t - _utc(txs[i - 1]["event_time"])).total_seconds() / 3600
                km, hours = _km(txs[i - 1], r), max(gap_h, 1 / 3600)
                travel = km > 100 and km / hours > 900
            hour = (t.hour + round(r["longitude"] / 15)) % 24
            out[r["transaction_id"]] = (burst or r["amount"] > 4 * expected or travel
                                        or (hour < 5 and r["amount"] > 3 * expected))
    return out


def daily_summary(rows: list[dict[str, Any]], db: Any, day: date) -> dict[str | None, dict[str, float]]:
    """category (None = the whole date) → transactions, amount, approved_amount, fraud_count, flagged,
    flagged_fraud, commission."""
    merchants = {m["_id"]: m for m in db[names.MERCHANTS].find()}
    flagged = flags(rows, db)
    out: dict[str | None, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if _utc(r["event_time"]).date() != day:
            continue
        m = merchants[r["merchant_id"]]
        approved = r["status"] == "approved"
        for key in (None, m["category"]):
            cell = out[key]
            cell["transactions"] += 1
            cell["amount"] += r["amount"]
            cell["approved_amount"] += r["amount"] if approved else 0.0
            cell["fraud_count"] += r["is_fraud"]
            cell["flagged"] += flagged[r["transaction_id"]]
            cell["flagged_fraud"] += flagged[r["transaction_id"]] and r["is_fraud"]
            cell["commission"] += r["amount"] * m["commission_rate"] if approved else 0.0
    return out


def merchant_daily(rows: list[dict[str, Any]], day: date) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        if _utc(r["event_time"]).date() == day:
            cell = out[r["merchant_id"]]
            cell["transactions"] += 1
            cell["sales"] += r["amount"] if r["status"] == "approved" else 0.0
            cell["fraud_count"] += r["is_fraud"]
    return out


def hourly_patterns(rows: list[dict[str, Any]], day: date) -> dict[tuple[int, int], int]:
    """(local weekday 1 = Monday, local hour) → transactions of ``day`` (UTC)."""
    out: dict[tuple[int, int], int] = defaultdict(int)
    for r in rows:
        t = _utc(r["event_time"])
        if t.date() == day:
            local = t + timedelta(hours=round(r["longitude"] / 15))
            out[(local.isoweekday(), local.hour)] += 1
    return out


def customer_segments(rows: list[dict[str, Any]], day: date, window_days: int) -> dict[str, dict[str, Any]]:
    """customer → frequency, monetary, fraud_count, recency_days over the trailing window ending with ``day``."""
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC)
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        t = _utc(r["event_time"])
        if end - timedelta(days=window_days) <= t < end:
            c = out.setdefault(r["customer_id"], {"frequency": 0, "monetary": 0.0, "fraud_count": 0, "last": t})
            c["frequency"] += 1
            c["monetary"] += r["amount"]
            c["fraud_count"] += r["is_fraud"]
            c["last"] = max(c["last"], t)
    for c in out.values():
        c["recency_days"] = (end - c.pop("last")).total_seconds() / 86400
    return out
