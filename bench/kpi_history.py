"""Snapshot cost vs KPI history: the publish step with N days of minute buckets. Prints figures; not a test.

    .venv/bin/python bench/kpi_history.py [--days 30] [--rounds 3] [--mongo-uri URI]

Starts its own MongoDB-compatible server (FerretDB unless --mongo-uri) on a free port in a temp dir,
stores --days of minute buckets (what a year-old deployment keeps forever: buckets are never archived),
then times building the snapshot the way the job does (the last 24 h of buckets + the totals document)
against the baseline of reading every bucket, in the same run.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo

from paylake import indexes, names
from paylake.kpi import buckets, histogram, totals
from paylake.kpi.headline import SERIES_MINUTES, build_snapshot
from paylake.kpi.rules import RULES
from paylake.settings import load_settings
from paylake.stack.process import free_port
from paylake.stack.servers import mongo_service

END = datetime(2026, 6, 1, tzinfo=UTC)  # a fixed "present"
CATEGORIES = ("grocery", "travel", "electronics", "fashion", "dining")


def minute_latencies(rng: random.Random, n: int = 1200) -> list[float]:
    """A minute of the demo stream's latencies: log-normal around ~220 ms with a 4 % Pareto tail, 0.1 ms."""
    out = []
    for _ in range(n):
        x = rng.lognormvariate(math.log(220), 0.35)
        if rng.random() < 0.04:
            x *= 1 + 3 * (rng.paretovariate(1.5) - 1)
        out.append(round(min(x, 30000.0), 1))
    return out


def bucket_doc(minute: datetime, rng: random.Random, hists: list[dict[int, int]]) -> dict[str, Any]:
    hist = rng.choice(hists)  # ~215 non-empty buckets, like a real minute
    count = sum(hist.values())
    return {
        "_id": buckets.bucket_id(minute), "minute": minute, "count": count, "amount": count * 52.5,
        "approved_count": count - 40, "approved_amount": count * 49.0, "fraud_count": count // 70,
        "flagged_count": count // 30, "flagged_fraud_count": count // 200, "latency_sum": count * 180.0,
        histogram.FIELD: {str(b): n for b, n in hist.items()},
        "revenue": {c: rng.uniform(10, 900) for c in CATEGORIES},
        "rules": {r: rng.randint(0, 20) for r in RULES}, "runs": [f"run{rng.getrandbits(64):016x}"],
    }


def timed(fn: Callable[[], Any], rounds: int) -> float:
    seconds = []
    for _ in range(rounds):
        started = time.monotonic()
        fn()
        seconds.append(time.monotonic() - started)
    return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mongo-uri", default=None, help="use this server instead of starting FerretDB")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="paylake-bench-history-"))
    settings = load_settings({}).with_overrides(
        state_dir=state_dir, mongo_uri=args.mongo_uri or f"mongodb://127.0.0.1:{free_port()}",
        mongo_db="bench_kpi_history",
    )
    service = None if args.mongo_uri else mongo_service(settings, state_dir / "run")
    if service:
        service.start()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    try:
        db = client[settings.mongo_db]
        client.drop_database(settings.mongo_db)
        indexes.ensure(db)
        rng = random.Random(7)
        minutes = args.days * 24 * 60
        hists = [histogram.of(minute_latencies(rng, rng.randint(900, 1500))) for _ in range(32)]
        docs = [bucket_doc(END - timedelta(minutes=minutes - i), rng, hists) for i in range(minutes)]
        started = time.monotonic()
        for i in range(0, len(docs), 5_000):
            db[names.KPI_MINUTES].insert_many(docs[i : i + 5_000])
        print(f"stored {minutes:,} minute buckets ({args.days} days) in {time.monotonic() - started:.1f} s",
              flush=True)
        started = time.monotonic()
        totals.rebuild(db)
        print(f"one-off totals rebuild from every bucket (a store from before totals): "
              f"{time.monotonic() - started:.1f} s", flush=True)

        since = END - timedelta(minutes=SERIES_MINUTES)
        now_way = timed(lambda: build_snapshot(buckets.load(db, since=since), END, END, totals.load(db)),
                        args.rounds)
        baseline = timed(lambda: build_snapshot(buckets.load(db), END, END), args.rounds)
        fresh = build_snapshot(buckets.load(db, since=since), END, END, totals.load(db))
        full = build_snapshot(buckets.load(db), END, END)
        assert fresh.headlines["all"].count == full.headlines["all"].count  # the same numbers either way
        print(f"snapshot from the last 24 h + totals: {now_way:.2f} s (median of {args.rounds})")
        print(f"baseline, snapshot from every bucket: {baseline:.2f} s -> {baseline / now_way:.0f}x")
    finally:
        client.close()
        if service:
            service.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
