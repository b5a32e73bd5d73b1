"""Archive benchmark: throughput MongoDB → HDFS Parquet (docs/s, MB/s), bytes per transaction in MongoDB
and in Parquet, and the time of queries over the archive.

Starts its own stack (FerretDB, Redis, HDFS) on free ports in a temp dir — never the default ports — loads
``--docs`` random transactions spread over ``--hours`` event-time hours into a collection with paylake's
indexes (as the generator creates them), marks them counted by the KPI job, then archives ~90% of them
in-process (the archive needs no Spark; a session is started for the query comparison only), after a few
writes that warm the fresh DataNode's JVM as a long-running one is. Prints the
seconds of each phase of the run (the job's own ``phases``) and the CPU seconds each process used meanwhile
(this client, FerretDB, the HDFS daemons, the Spark server).

    .venv/bin/python bench/archive.py --docs 100000
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from procs import process_cpu_s
from pymongo import MongoClient

from paylake import indexes, names, schema
from paylake.archive import query, size
from paylake.archive.coldfs import open_cold
from paylake.archive.job import run_archive
from paylake.kpi.state import write_watermark
from paylake.settings import Settings
from paylake.stack import manager

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def records(n: int, hours: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        event = T0 + timedelta(seconds=i * hours * 3600 / n)
        out.append(
            {
                "transaction_id": uuid.UUID(int=rng.getrandbits(128)).hex,
                "event_time": event,
                "ingest_time": event + timedelta(milliseconds=rng.randint(50, 3000)),
                "customer_id": f"C{rng.randint(0, 20000):06d}",
                "merchant_id": f"M{rng.randint(0, 2000):05d}",
                "amount": round(rng.lognormvariate(3.5, 1.0), 2),
                "currency": rng.choice(schema.CURRENCIES),
                "payment_method": rng.choice(schema.PAYMENT_METHODS),
                "channel": rng.choice(schema.CHANNELS),
                "device_type": rng.choice(schema.DEVICE_TYPES),
                "is_new_device": rng.random() < 0.1,
                "latitude": round(rng.uniform(-60, 70), 6),
                "longitude": round(rng.uniform(-170, 170), 6),
                "country": rng.choice(("US", "GB", "FR", "DE", "BR", "IN", "JP")),
                "status": "declined" if rng.random() < 0.08 else "approved",
                "latency_ms": round(rng.gammavariate(2.0, 60.0), 1),
                "is_fraud": rng.random() < 0.02,
            }
        )
    return out


def private_stack(state: Path) -> Settings:
    return manager.private_settings(state, mongo_db="bench")


def warm_hdfs(settings: Settings) -> None:
    """A few writes of a batch's size before the clock: the archive writes to a long-running DataNode, whose
    first writes in a fresh JVM cost ~1.8 s each (compiling its write path) where a warm one takes ~0.1 s."""
    cold = open_cold(settings)
    for i in range(4):
        cold.write_bytes(f"_warmup/{i}.bin", os.urandom(2_500_000))
        cold.read_bytes(f"_warmup/{i}.bin")
    cold.delete("_warmup")


def timed(func: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    value = func()
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--hours", type=int, default=48)
    args = parser.parse_args()
    settings = private_stack(Path(tempfile.mkdtemp(prefix="paylake-bench-archive-")))
    manager.up(settings, echo=lambda _line: None)
    try:
        client: MongoClient[Any] = MongoClient(settings.mongo_uri, tz_aware=True)
        db = client[settings.mongo_db]
        indexes.ensure(db, (names.TRANSACTIONS,))  # as in production: the generator creates them
        data = records(args.docs, args.hours, random.Random(7))
        _, load_s = timed(
            lambda: [
                db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in data[i : i + 5000]])
                for i in range(0, len(data), 5000)
            ]
        )
        write_watermark(db, max(r["ingest_time"] for r in data))
        before = size.measure(db, settings)
        mongo_per_tx = before.data_bytes / before.docs

        warm_hdfs(settings)
        from paylake.spark import build_session

        spark = build_session(settings, "paylake-bench-archive")
        pids = {s.name: s.pid for s in manager.status(settings)}
        pids["client"] = os.getpid()
        cpu_before = {name: process_cpu_s(pid) for name, pid in pids.items()}
        result, archive_s = timed(lambda: run_archive(settings, max_mb=before.data_mb * 0.1))
        cpu = {name: process_cpu_s(pid) - cpu_before[name] for name, pid in pids.items()}
        rows = sum(b["rows"] for b in result.batches)
        parquet = sum(b["bytes"] for b in result.batches)

        cold_sql = "SELECT date, count(*) AS n, avg(CAST(is_fraud AS INT)) AS fraud_rate FROM archive GROUP BY date"
        _, cold_q = timed(lambda: query.run_duckdb(settings, cold_sql))
        one_day = "SELECT count(*), sum(amount) FROM archive WHERE date = DATE '2026-01-01'"
        _, pruned_q = timed(lambda: query.run_duckdb(settings, one_day))
        all_sql = "SELECT count(*), sum(amount) FROM transactions"
        (totals,), all_q = timed(lambda: query.run_duckdb(settings, all_sql)[1])
        _, spark_q = timed(lambda: query.run_spark(spark, settings, cold_sql))
        assert totals[0] == args.docs, totals
        spark.stop()
        client.close()

        moved_mb = rows * mongo_per_tx / 1e6
        lines = [
            ("load into MongoDB", f"{args.docs / load_s:.0f} docs/s"),
            ("MongoDB bytes/transaction", f"{mongo_per_tx:.0f} B (collStats size {before.data_mb:.1f} MB)"),
            (
                "Parquet bytes/transaction",
                f"{parquet / rows:.1f} B ({mongo_per_tx * rows / parquet:.1f}x smaller, zstd)",
            ),
            ("archived", f"{rows} docs in {len(result.batches)} batches, {archive_s:.1f} s end to end"),
            ("throughput", f"{rows / archive_s:.0f} docs/s, {moved_mb / archive_s:.2f} MB/s of MongoDB data"),
            ("Parquet written", f"{parquet / archive_s / 1e6:.2f} MB/s"),
            ("hot size", f"{before.data_mb:.1f} MB -> {result.data_mb_after:.1f} MB"),
            ("query archive by date", f"{cold_q:.2f} s (DuckDB over WebHDFS, all dates)"),
            ("query one date (pruned)", f"{pruned_q:.2f} s"),
            ("query hot ∪ cold totals", f"{all_q:.2f} s (includes reading the hot rest with pymongo)"),
            ("same archive query, Spark", f"{spark_q:.2f} s (warm session)"),
        ]
        phases = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.phases.items())
        overlap = "; they overlap: a batch is read and deleted beside another's write"
        lines.append(("phases of the run", f"{phases} (sum {sum(result.phases.values()):.1f} s{overlap})"))
        busy = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in cpu.items() if seconds >= 0.05)
        lines.append(("CPU during the run", f"{busy} (of {archive_s:.1f} s x 2 cores)"))
        print(f"archive bench: {args.docs} random transactions over {args.hours} h")
        print("  (FerretDB/SQLite, HDFS with one DataNode, Spark local[2], all on this machine)")
        for label, value in lines:
            print(f"  {label:<28}{value}")
    finally:
        manager.down(settings, echo=lambda _line: None)


if __name__ == "__main__":
    main()
