"""The marts bench's private stack and its history: paced days generated, counted and archived to HDFS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from marts_cli import Audit, Bench, cli, load_avg, say
from pymongo import MongoClient

from paylake import names
from paylake.settings import Settings, settings_env
from paylake.stack import manager


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def generate(bench: Bench, first: date, days: int) -> int:
    """Paced generation of ``days`` event-time days from ``first``, cut at the last day's midnight; returns the
    transactions kept. --rate is far above what the store takes: the clock then runs behind, but paced event
    times come from the simulation (Poisson arrivals at --per-day a day), so the days are evenly filled."""
    speedup = bench.gen_rate * 86400 / bench.per_day
    count = int(days * bench.per_day * 1.03) + 200  # Poisson arrivals: a margin, then cut at the range's end
    end = midnight(first + timedelta(days=days))
    say(f"generate {days} days from {first} ({count:,} transactions at --speedup {speedup:,.0f})")
    _, seconds = cli(bench, "generate", "--start", midnight(first).isoformat(), "--speedup", f"{speedup:.0f}",
                     "--rate", f"{bench.gen_rate:g}", "--count", str(count), "--seed", str(first.toordinal()),
                     echo=lambda line: "tx/s" in line or "adds up" in line)
    cut = bench.db[names.TRANSACTIONS].delete_many({"event_time": {"$gte": end}}).deleted_count
    kept = bench.db[names.TRANSACTIONS].count_documents({"event_time": {"$gte": midnight(first), "$lt": end}})
    say(f"generated in {seconds:.0f} s; cut {cut:,} past {end:%Y-%m-%d %H:%M}; {kept:,} kept "
        f"({kept / days:,.0f} per day)")
    return kept


def count_and_archive(bench: Bench) -> None:
    """`paylake kpi refresh` (one pass: the watermark covers everything generated), then `paylake archive run`
    with a tiny threshold: everything counted moves to HDFS. Checks the hot store is empty afterwards."""
    _, kpi_s = cli(bench, "kpi", "refresh")
    say(f"kpi refresh: {kpi_s:.0f} s")
    lines, archive_s = cli(bench, "archive", "run", "--max-mb", "0.01")
    batches = lines[-1].count('"batch_id"')
    left = bench.db[names.TRANSACTIONS].count_documents({})
    say(f"archive run: {batches} batches to HDFS in {archive_s:.0f} s; {left} transactions left hot")
    if left:
        raise SystemExit(f"{left} transactions stayed hot: the archive did not move everything")


def load(bench: Bench, first: date, days: int) -> int:
    """``days`` of history from ``first``, at most ``bench.chunk_days`` at a time, each counted and archived
    before the next is generated: the hot store stays small, as it does in production, and the archive's
    cost per batch grows with the hot store (FerretDB reads a batch's range by scanning from its start)."""
    kept = 0
    for offset in range(0, days, bench.chunk_days):
        kept += generate(bench, first + timedelta(days=offset), min(bench.chunk_days, days - offset))
        count_and_archive(bench)
    return kept


def private_stack(args: argparse.Namespace) -> tuple[Settings, Path]:
    state = Path(tempfile.mkdtemp(prefix="paylake-bench-marts-"))
    settings = manager.private_settings(state, mongo_db="bench_marts").with_overrides(
        customers=args.customers, model_path=args.model, kpi_lateness_s=0.0)
    (state / "bench.env").write_text("".join(f"{k}={v}\n" for k, v in settings_env(settings).items()))
    return settings, state


def start_stack(settings: Settings, args: argparse.Namespace) -> Bench:
    say(f"stack starting in {settings.state_dir} (FerretDB, Redis, HDFS, Spark Connect local[2], free ports)")
    statuses = manager.up(settings, echo=lambda _line: None)
    if not all(s.healthy for s in statuses):
        raise SystemExit("stack not healthy:\n" + "\n".join(s.line for s in statuses))
    client: MongoClient[Any] = MongoClient(settings.mongo_uri, tz_aware=True)
    bench = Bench(settings, {**os.environ, **settings_env(settings)}, client[settings.mongo_db], args.per_day,
                  args.gen_rate, args.chunk_days, Audit(settings), args.stall_s)
    if not args.model.exists():
        say(f"no model at {args.model}: `paylake train --quick`")
        cli(bench, "train", "--quick")
    say(f"stack up; {load_avg()} (other work on this machine skews times: see the load beside each build)")
    return bench


def machine() -> str:
    model = ""
    with contextlib.suppress(OSError):
        model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                      if line.startswith("model name")), "")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = os.getloadavg()
    return f"{os.cpu_count()} cores{' ' + model if model else ''}, {memory:.0f} GB; load avg {load[0]:.1f} at the end"
