"""Where a KPI refresh on a large new range spends its time and CPU, per phase and per process. Not a test.

    .venv/bin/python bench/kpi_phases.py [--customers 500000] [--old 100000] [--steady 30000]
                                         [--catchup 270000] [--repeat 2] [--baseline DIR] [--rounds 1]
                                         [--loop-seconds 150 [--loop-rates 4000,1000]] [--variants none,50000]

Starts its own FerretDB, Redis and Spark Connect server (temp dir, free ports). Each variant of the code runs
in a child process on that stack, in a database of its own: a customers dimension of --customers (the
generator's documents) and --old counted transactions (the rules' lookback); then, as one loop would (one
session, one LoopCache): a first refresh of --steady new rows (reads the lookback too), --repeat steady
refreshes of --steady rows (3,000 tx/s for 10 s) and --repeat catch-ups of --catchup rows. Customers are
drawn uniformly (the most distinct customers per row: the worst case for their fetch). With --baseline DIR
(a folder holding another version's ``paylake/`` package, e.g. `git archive <rev> paylake | tar -x -C DIR`)
that version runs first, then this checkout's; a small warm-up child runs before both (the server's JIT).

Per refresh and phase, wall seconds and CPU seconds of the client (the child), FerretDB and the Spark
Connect server (the process's total, and its live threads grouped by name: tasks, JIT, GC, other =
Connect's planning and RPC; a thread that exits takes its CPU out of its group, not out of the total):
  probe      reads.new_range (before: pymongo, the range's upper bound and customer ids), or
  read       reads.hot_read (now: the range's rows with pymongo, to Arrow)
  customers  reads.customer_rows (pymongo $in chunks)
  spark      the rest of the one Spark action (the read's conversion, joins, windows, the collect)
  write      alerts, bucket merge, watermark, publish
With --loop-seconds, each child then runs the loop itself (``kpi.loop.loop``, pipelined if the version is)
on a stream stored beforehand at each of --loop-rates (bench/loop_throughput.py): its rows counted per second
and CPU per row, behind the stream (a rate above what it counts) or keeping up.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pymongo

sys.path.insert(0, str(Path(__file__).parent))
import loop_throughput  # noqa: E402
from kpi import NOW, docs, insert, seed_dimensions  # noqa: E402 (the bench's data)
from procs import cpu_s, thread_cpu_s  # noqa: E402

from paylake.jobs import KPI_REFRESH  # noqa: E402
from paylake.kpi import job, reads, state  # noqa: E402
from paylake.kpi.recent import LoopCache  # noqa: E402
from paylake.settings import Settings, load_settings, settings_env  # noqa: E402
from paylake.spark import active, build_session  # noqa: E402
from paylake.stack.manager import private_settings  # noqa: E402
from paylake.stack.servers import mongo_service, redis_service  # noqa: E402
from paylake.stack.spark_servers import connect_service  # noqa: E402

GROUPS = (("tasks", "Executor task"), ("jit", "CompilerThre"), ("gc", "GC Thr"), ("gc", "G1 "))  # in comm
PHASES = ("probe", "read", "customers", "spark", "write")


@dataclass
class Meter:
    """CPU of the three processes, read at phase boundaries."""

    ferret_pid: int
    server_pid: int
    spent: dict[str, dict[str, float]] = field(default_factory=dict)  # phase -> counter -> seconds
    last: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        # The server's groups count live threads only: a task thread that exits takes its CPU out of them
        # (a negative figure), never out of the process's total.
        jvm = thread_cpu_s(self.server_pid, GROUPS)
        return {"wall": time.monotonic(), "client": time.process_time(), "ferret": cpu_s(self.ferret_pid),
                "server": cpu_s(self.server_pid), **{f"jvm_{k}": v for k, v in jvm.items()}}

    def mark(self, phase: str | None) -> None:
        """Charge everything since the previous mark to ``phase`` (None: start)."""
        now = self.read()
        if phase is not None:
            into = self.spent.setdefault(phase, {})
            for key, value in now.items():
                into[key] = into.get(key, 0.0) + value - self.last.get(key, value)
        self.last = now


def instrument(meter: Meter) -> None:
    """Mark phase boundaries around the job's steps (a bench's measuring hooks, not a change of the job); the
    first read is the version's own: its probe (before) or its one read of the rows (now)."""
    first = "probe" if hasattr(reads, "new_range") else "read"

    def timed(phase: str, fn: Callable[..., Any], before: str | None = None) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if before:
                meter.mark(before)
            out = fn(*args, **kwargs)
            meter.mark(phase)
            return out
        return wrapper

    # What ran before the first read (lock, state reads) goes to write; the lazy plan's building to spark.
    setattr(reads, "new_range" if first == "probe" else "hot_read",
            timed(first, getattr(reads, "new_range" if first == "probe" else "hot_read"), before="write"))
    reads.customer_rows = timed("customers", reads.customer_rows, before="spark")
    job._compute = timed("spark", job._compute)


def refresh(spark: Any, settings: Settings, meter: Meter, cache: LoopCache, label: str, expected: int) -> None:
    meter.spent.clear()
    meter.mark(None)
    result = job.run_refresh(spark, settings, cache=cache)
    meter.mark("write")
    assert result.new_count == expected, (result.new_count, expected)
    total = {k: sum(p.get(k, 0.0) for p in meter.spent.values()) for k in meter.last}
    cpu = total["client"] + total["ferret"] + total["server"]
    print(f"\n{label}: {expected:,} new, {result.customers_read:,} customers, refresh {result.seconds:.1f} s "
          f"({expected / result.seconds:,.0f} rows/s), CPU {cpu:.1f} s ({expected / cpu:,.0f} rows per CPU-s)")
    keys = ["wall", "client", "ferret", "server", *sorted(k for k in total if k.startswith("jvm_"))]
    print("  phase      " + " ".join(f"{k:>10}" for k in keys))
    for phase in (*[p for p in PHASES if p in meter.spent], "total"):
        row = total if phase == "total" else meter.spent[phase]
        print(f"  {phase:<10} " + " ".join(f"{row.get(k, 0.0):10.2f}" for k in keys), flush=True)


def child(args: argparse.Namespace) -> None:
    """One variant's refreshes, on the parent's stack (settings from the environment)."""
    settings = load_settings()
    meter = Meter(args.ferret_pid, args.server_pid)
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    db = client[settings.mongo_db]
    print(f"customers: {args.customers:,} in {seed_dimensions(db, args.customers):.1f} s", flush=True)
    old = docs(args.old, NOW - timedelta(minutes=55), args.old / 55, "old_", 1, args.customers)
    print(f"old (lookback) rows: {args.old:,} in {insert(db, old):.1f} s", flush=True)
    state.write_watermark(db, NOW)
    spark = build_session(settings, KPI_REFRESH.app_name)
    for key, value in KPI_REFRESH.spark_conf.items():
        spark.conf.set(key, value)
    cache, start = LoopCache(), NOW
    if args.large_range and hasattr(job, "LARGE_RANGE"):  # a variant of this checkout: the tasks per large range
        job.LARGE_RANGE = None if args.large_range == "none" else int(args.large_range)
    originals = (reads.hot_read, getattr(reads, "new_range", None), reads.customer_rows, job._compute)
    instrument(meter)
    plan = [("first of a loop (lookback read)", args.steady, 10.0)]
    plan += [("steady", args.steady, 10.0)] * args.repeat + [("catch-up", args.catchup, 90.0)] * args.repeat
    try:
        with active(spark):
            for batch, (label, count, seconds) in enumerate(plan):
                start += timedelta(seconds=seconds + 1)  # after the previous batch's last ingest time
                took = insert(db, docs(count, start, count / seconds * 60, f"n{batch}_", 100 + batch, args.customers))
                print(f"inserted {count:,} new rows in {took:.1f} s", flush=True)
                refresh(spark, settings, meter, cache, label, count)
            reads.hot_read, _, reads.customer_rows, job._compute = originals  # the loop's figure: unmetered
            if originals[1] is not None:
                reads.new_range = originals[1]  # type: ignore[attr-defined]
            for rate in (int(r) for r in args.loop_rates.split(",") if r and args.loop_seconds):
                start += timedelta(minutes=65)  # an hour after the previous rows: no lookback to read
                start = loop_throughput.measure(spark, settings, db, meter, start, rate, args)
    finally:
        spark.stop()
        client.close()


def run_child(args: argparse.Namespace, settings: Settings, pids: tuple[int, int], label: str,
              code: str | None, sizes: list[str]) -> None:
    print(f"\n===== {label}{f' (paylake from {code})' if code else ''} =====", flush=True)
    database = "bench_phases_" + "".join(c if c.isalnum() else "_" for c in label.split(" (")[0])
    env = os.environ | settings_env(settings.with_overrides(mongo_db=database))
    if code:
        env["PYTHONPATH"] = str(Path(code).resolve())
    argv = [sys.executable, __file__, "--child", "--ferret-pid", str(pids[0]), "--server-pid", str(pids[1]), *sizes]
    subprocess.run(argv, env=env, check=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, default in (("customers", 500_000), ("old", 100_000), ("steady", 30_000), ("catchup", 270_000),
                          ("repeat", 2)):
        parser.add_argument(f"--{name}", type=int, default=default)
    parser.add_argument("--loop-rates", default="4000,1000", help="the loop figures' streams (rows/s; "
                        "above what the loop counts: its throughput; below: its CPU when keeping up)")
    parser.add_argument("--loop-seconds", type=float, default=0.0, help="each loop figure's length (0: none)")
    parser.add_argument("--large-range", default="", help=argparse.SUPPRESS)
    parser.add_argument("--variants", default="", help="this checkout again with job.LARGE_RANGE=N|none, "
                        "comma-separated (e.g. none: every refresh in one task)")
    parser.add_argument("--rounds", type=int, default=1, help="baseline and current alternate this many times")
    parser.add_argument("--baseline", help="a folder holding the baseline version's paylake/ package")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ferret-pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--server-pid", type=int, help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse()
    if args.child:
        child(args)
        return
    state_dir = Path(tempfile.mkdtemp(prefix="paylake-bench-phases-"))
    settings = private_settings(state_dir).with_overrides(cold_uri=f"file://{state_dir}/cold", kpi_lateness_s=0.0)
    run_dir = state_dir / "run"
    ferret, server = mongo_service(settings, run_dir), connect_service(settings, run_dir)
    services = [ferret, redis_service(settings, run_dir), server]
    sizes = [f"--{k.replace('_', '-')}={getattr(args, k)}"
             for k in ("customers", "old", "steady", "catchup", "repeat", "loop_rates", "loop_seconds")]
    try:
        for service in services:
            service.start()
        pids = (ferret.pid() or 0, server.pid() or 0)
        print(json.dumps({"sizes": sizes, "baseline": args.baseline}), flush=True)
        warm = ["--customers=20000", "--old=10000", "--steady=5000", "--catchup=20000", "--repeat=1"]
        run_child(args, settings, pids, "warm-up (JIT; not compared)", None, warm)
        for n in range(args.rounds):
            if args.baseline:
                run_child(args, settings, pids, f"baseline {n}", args.baseline, sizes)
            run_child(args, settings, pids, f"current {n}", None, sizes)
            for variant in filter(None, args.variants.split(",")):
                run_child(args, settings, pids, f"current large_range={variant} {n}", None,
                          [*sizes, f"--large-range={variant}"])
    finally:
        for service in reversed(services):
            service.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
