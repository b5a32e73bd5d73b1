"""KPI refresh cost vs hot-store size, and freshness. Prints figures; not a test.

    .venv/bin/python bench/kpi.py [--small 100000] [--large 1000000] [--new 10000] [--customers 1000000]
                                  [--mongo-uri URI]

Starts its own MongoDB-compatible server (FerretDB, unless --mongo-uri points at a running mongod) and
Redis on free ports in a temp dir, never the default ports. Steps: a warm-up refresh (JVM, codegen);
a customers dimension of --customers (the generator's documents) that the transactions draw from
uniformly; a hot store of --small already-counted documents (watermark set after them) + --new new ones →
timed refresh, then freshness (one spark-submit run); the store grown to --large → another --new → timed
refresh; then the customers of that refresh read three ways (pymongo $in chunks, what the job does; the
connector with one $in pipeline per chunk; the connector reading the whole dimension, what it did before).
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pymongo
import redis

from paylake import names, schema
from paylake.generator.dimensions import build_dimensions, customer_id
from paylake.jobs import KPI_REFRESH
from paylake.jobs.submit import submit
from paylake.kpi import snapshot, state, transforms
from paylake.kpi.job import run_refresh
from paylake.kpi.reads import CUSTOMER_CHUNK, customer_rows, hot_pipeline
from paylake.mongo import match_pipeline
from paylake.settings import Settings, load_settings
from paylake.spark import build_session, read_mongo
from paylake.stack.checkout import in_process_spark
from paylake.stack.process import free_port
from paylake.stack.servers import mongo_service, redis_service

NOW = datetime(2026, 6, 1, tzinfo=UTC)  # a fixed "present": data never depends on the wall clock
CATEGORIES = {"grocery": 0.01, "travel": 0.03, "electronics": 0.02, "fashion": 0.025, "dining": 0.015}
PER_MINUTE = 10  # ingest density of the old data: the lookback hour holds the same rows at every size
WARM_CUSTOMERS = 5000  # the warm-up database's dimension: it only warms the JVM


def docs(
    count: int, first_ingest: datetime, per_minute: float, prefix: str, seed: int, customers: int
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for i in range(count):
        ingest = first_ingest + timedelta(seconds=60 * i / per_minute)
        out.append(schema.to_mongo({
            "transaction_id": f"{prefix}{i:09d}",
            "event_time": ingest - timedelta(milliseconds=rng.randint(50, 3000)),
            "ingest_time": ingest,
            "customer_id": customer_id(rng.randrange(customers)),  # anywhere in the dimension
            "merchant_id": f"M{rng.randrange(200):05d}",
            "amount": round(rng.lognormvariate(3.5, 1.0), 2),
            "currency": "USD", "payment_method": "credit_card", "channel": "online",
            "device_type": "mobile", "is_new_device": rng.random() < 0.05,
            "latitude": 40.7 + rng.uniform(-1, 1), "longitude": -74.0 + rng.uniform(-1, 1), "country": "US",
            "status": "approved" if rng.random() < 0.9 else "declined",
            "latency_ms": rng.lognormvariate(5, 0.6), "is_fraud": rng.random() < 0.02,
        }))
    return out


def seed_dimensions(db: Any, customers: int) -> float:
    """The bench's categories and merchants, and the generator's ``customers`` customers; return the seconds
    spent inserting the customers."""
    cats = list(CATEGORIES)
    db[names.CATEGORIES].insert_many([{"_id": c, "name": c, "description": c, "commission_rate": r,
                                       "median_amount": 40.0} for c, r in CATEGORIES.items()])
    db[names.MERCHANTS].insert_many([{"_id": f"M{i:05d}", "name": f"M{i}", "category": cats[i % 5], "city": "NYC",
                                      "country": "US", "latitude": 40.7, "longitude": -74.0,
                                      "commission_rate": CATEGORIES[cats[i % 5]]} for i in range(200)])
    population = build_dimensions(customers=customers).customers
    started = time.monotonic()
    for i in range(0, len(population), 10_000):
        db[names.CUSTOMERS].insert_many(population[i : i + 10_000], ordered=False)
    return time.monotonic() - started


def insert(db: Any, batch: list[dict[str, Any]]) -> float:
    started = time.monotonic()
    for i in range(0, len(batch), 10_000):
        db[names.TRANSACTIONS].insert_many(batch[i : i + 10_000], ordered=False)
    return time.monotonic() - started


def timed_count(db: Any, query: dict[str, Any]) -> tuple[int, float]:
    started = time.monotonic()
    count = db[names.TRANSACTIONS].count_documents(query)
    return count, time.monotonic() - started


def freshness(settings: Settings, db: Any, hot: int) -> None:
    """Insert one minute of data, then one spark-submit run (what each DAG run does); time until counted."""
    r = redis.Redis.from_url(settings.redis_url)
    inserted_at = time.monotonic()
    insert(db, docs(600, NOW + timedelta(hours=5), 600, "f", 9, WARM_CUSTOMERS))
    submit(settings, KPI_REFRESH)
    snap = snapshot.read(r)
    lag = time.monotonic() - inserted_at
    assert snap is not None and snap.headlines["all"].count >= 600
    print(f"freshness: insert → counted in Redis by one spark-submit run: {lag:.1f} s on a hot store of "
          f"{hot:,}; under the DAG add up to 60 s (schedule) + {load_settings().kpi_lateness_s:g} s lateness",
          flush=True)


def compare_customer_reads(spark: Any, settings: Settings, db: Any, ids: list[str]) -> None:
    """The same customers into a Spark DataFrame three ways: why the job fetches them with pymongo."""
    fields = transforms.customer_schema()

    def pymongo_in() -> int:
        return spark.createDataFrame(customer_rows(db, ids), fields).localCheckpoint(eager=True).count()

    def connector_in() -> int:
        chunks = [read_mongo(spark, settings, names.CUSTOMERS, fields,
                             match_pipeline({"_id": {"$in": ids[i : i + CUSTOMER_CHUNK]}}))
                  for i in range(0, len(ids), CUSTOMER_CHUNK)]
        frame = chunks[0]
        for chunk in chunks[1:]:
            frame = frame.unionByName(chunk)
        return frame.localCheckpoint(eager=True).count()

    def connector_whole() -> int:
        return read_mongo(spark, settings, names.CUSTOMERS, fields).localCheckpoint(eager=True).count()

    for label, read in (("pymongo $in chunks (the job)", pymongo_in), ("connector, one $in pipeline per chunk",
                        connector_in), ("connector, whole dimension (before)", connector_whole)):
        started = time.monotonic()
        count = read()
        print(f"customers into Spark, {label}: {count:,} in {time.monotonic() - started:.2f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--new", type=int, default=10_000)
    parser.add_argument("--customers", type=int, default=1_000_000, help="size of the customers dimension")
    parser.add_argument("--mongo-uri", default=None, help="use this server instead of starting FerretDB")
    args = parser.parse_args()

    state_dir = Path(tempfile.mkdtemp(prefix="paylake-bench-kpi-"))
    settings = in_process_spark(load_settings({})).with_overrides(
        state_dir=state_dir, mongo_uri=args.mongo_uri or f"mongodb://127.0.0.1:{free_port()}", mongo_db="bench_kpi",
        redis_url=f"redis://127.0.0.1:{free_port()}/0", cold_uri=f"file://{state_dir}/cold", spark_master="local[2]",
        kpi_lateness_s=0.0,
    )
    services = [redis_service(settings, state_dir / "run")]
    if not args.mongo_uri:
        services.insert(0, mongo_service(settings, state_dir / "run"))
    for service in services:
        service.start()
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    spark = build_session(settings, "paylake-bench-kpi")
    try:
        print(f"server: {'external ' + args.mongo_uri if args.mongo_uri else 'FerretDB v1 (SQLite)'}", flush=True)
        warm = settings.with_overrides(mongo_db="bench_kpi_warmup")
        seed_dimensions(client[warm.mongo_db], WARM_CUSTOMERS)
        insert(client[warm.mongo_db], docs(2000, NOW - timedelta(days=1), 100, "w", 1, WARM_CUSTOMERS))
        print(f"warm-up refresh (2,000 docs): {run_refresh(spark, warm).seconds:.1f} s", flush=True)

        db = client[settings.mongo_db]
        took = seed_dimensions(db, args.customers)
        print(f"customers dimension: {args.customers:,} inserted in {took:.1f} s", flush=True)
        db[names.TRANSACTIONS].create_index("ingest_time")
        db[names.TRANSACTIONS].create_index("event_time")
        rows: list[tuple[int, float]] = []
        hot = 0
        for size, new_seed in ((args.small, 2), (args.large, 3)):
            # Old, already-counted data ends where the new data starts; growing adds it further back.
            start = NOW - timedelta(minutes=size / PER_MINUTE)
            added = docs(size - hot, start, PER_MINUTE, f"h{size}_", new_seed, args.customers)
            took = insert(db, added)
            print(f"inserted {len(added):,} old docs in {took:.1f} s ({len(added) / took:,.0f}/s)", flush=True)
            hot = size
            state.write_watermark(db, NOW)
            new_start = NOW + timedelta(minutes=len(rows) * 60 + 1)
            new = docs(args.new, new_start, args.new / 10, f"n{size}_", new_seed + 10, args.customers)  # 10 min
            insert(db, new)
            total_docs = db[names.TRANSACTIONS].estimated_document_count()
            matched, ranged = timed_count(db, {"ingest_time": {"$gt": NOW}})
            # Baseline: the same documents through a filter no server pushes down to an index range scan
            # on FerretDB (the patch handles $gt/$gte only): what every read cost before the patch.
            scanned, scan = timed_count(db, {"ingest_time": {"$not": {"$lte": NOW}}})
            result = run_refresh(spark, settings)
            assert result.new_count == args.new == matched == scanned, (result, matched, scanned)
            rows.append((total_docs, result.seconds))
            print(f"hot {total_docs:,}: refresh of {args.new:,} new in {result.seconds:.1f} s; the new range "
                  f"counted server-side {ranged:.2f} s, the same by full scan {scan:.1f} s; "
                  f"{result.customers_read:,} customers read in {result.customers_seconds:.2f} s", flush=True)
            if size == args.large:
                compare_customer_reads(spark, settings, db, sorted({d["customer_id"] for d in new}))
            if size == args.small:
                freshness(settings, db, size)
            db[names.TRANSACTIONS].delete_many({"ingest_time": {"$gt": NOW}})  # next size: same new volume
            db[names.KPI_STATE].delete_many({})
            db[names.KPI_MINUTES].delete_many({})
        ratio = rows[1][1] / rows[0][1]
        print(f"ratio large/small = {ratio:.2f} (target <= 1.5): {'OK' if ratio <= 1.5 else 'NOT MET'}")
        print(f"pushed-down pipeline: {hot_pipeline(NOW, None)}")

    finally:
        spark.stop()
        client.close()
        for service in reversed(services):
            service.stop()
        shutil.rmtree(state_dir, ignore_errors=True)  # ~1.4 GB of SQLite at the default sizes


if __name__ == "__main__":
    main()
