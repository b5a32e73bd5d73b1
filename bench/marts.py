"""Daily marts: the time to build one date, and the whole backfill, over a history that grows from
--small-days to --days of archived transactions. Prints figures; not a test.

    .venv/bin/python bench/marts.py [--per-day 5000] [--days 30] [--small-days 7] [--keep]

Starts its own stack (FerretDB, Redis, HDFS NameNode + DataNode, a Spark Connect server on local[2]) on
free ports in a temp dir, then runs the real pipeline through the CLI, as an operator would:
  1. `paylake generate --start <D-small+1> --speedup N --rate R --count …`: --small-days of history ending
     on the date D (--end), --per-day transactions per event-time day (paced, so event times follow the
     simulated clock, not the insert speed; the stream is cut at the last day's midnight), then `paylake kpi
     refresh` (the archive moves only what the KPI watermark covers) and `paylake archive run --max-mb 0.01`:
     every transaction moves to HDFS, one Parquet batch per date; at most --chunk-days at a time.
  2. `paylake marts build --date D`, --warmup times to warm the Spark Connect server's JIT, then --repeat
     times: t7 (the job's own seconds, median; the CLI's wall time beside it). Each build also reports its
     CPU (the private stack's servers and the CLI: less skewed than wall time by other work on the machine)
     and what it asked HDFS, from the NameNode's audit log: files opened, of how many archive dates, dirs
     listed.
  3. The --days − --small-days dates *before* the first ones, generated, counted and archived the same
     way: D's trailing window (PAYLAKE_MARTS_WINDOW_DAYS, 7) holds the same rows, only the archive grew.
     `paylake marts build --date D` again → t30. Partition pruning means t30/t7 ≈ 1.
  4. Baseline, same run, same date: the build with its lake read *not* pruned (in a Python child of the
     bench, with paylake.marts.reads.spark_views wrapped to read every cold date and filter on event_time
     only) at both history sizes, beside the same build pruned: the cost pruning avoids, and a check that
     both reads give the same figures. These builds are timed phase by phase (read, stage, gates, publish,
     history) to show where the time goes.
     Then --pairs pairs of builds alternating the two history sizes (ABBA), the older dates hidden from the
     small-history builds by HDFS renames (put back after each): the same ratio, free of the JIT warm-up and
     load drift that lie between the sequential t7 and t30 on a shared machine.
  5. Backfill: `paylake marts build --from D-(days-1) --to D`, timed → total and per date; then D once more
     (the marts of every date published: the history step reads them all).
A final block prints the figures, one line each, for the README. A build silent for --stall-s is killed and
run again (HANG_NOTE says why), and reported.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from marts_baseline import InProcess, compare, interleaved
from marts_cli import T0, Bench, Built, backfill, build_cli, builds, say
from marts_load import load, machine, private_stack, start_stack

from paylake.stack import manager
from paylake.stack.checkout import CHECKOUT

DEFAULT_END = date(2026, 11, 29)  # a fixed D: the data never depends on the day the bench runs
BASELINE_NOTE = """
  The baseline is the same build of D with its lake read not pruned: paylake.marts.reads.spark_views wrapped (in
  a Python child of the bench) to list and read every archived date and keep D's window by event_time alone. It
  does the same work as the pruned build apart from the pruning (the figures are checked equal), so the pair
  shows what pruning saves and whether this bench could see a cost growing with history. Times are each build's
  own BuildResult.seconds; "archive dates" counts the date partitions of the archive whose files the NameNode
  audit log shows opened."""
HANG_NOTE = """
  {count} hung build(s), killed after {stall:.0f} s without progress and run again (not counted in the times):
    {what}
  `paylake marts build` deadlocks now and then in history.publish (after the date is published, outside the
  job's lock), where DuckDB scans the marts as pyarrow datasets on a Python (fsspec WebHDFS) filesystem:
  DuckDB's main thread holds the GIL inside pyarrow's scanner while an Arrow I/O thread waits for the GIL to
  call fsspec (gdb: main thread in arrow::MergedGenerator waiting on an Arrow mutex; the I/O thread in
  PyFileSystem::OpenInputFile, in take_gil)."""


@dataclass(frozen=True)
class AtSize:
    """One history size: the CLI builds' medians (job seconds, CPU) and last build, and the in-process
    pruned/unpruned pair."""

    days: int
    median_s: float
    median_cpu_s: float
    last: Built
    pruned: InProcess
    full: InProcess


def measure_at(bench: Bench, day: date, repeat: int, days: int) -> AtSize:
    median, cpu, last = builds(bench, day, repeat, f"{days}-day")
    pruned, full = compare(bench, day, f"{days}-day")
    return AtSize(days, median, cpu, last, pruned, full)


def history_figures(bench: Bench, args: argparse.Namespace, end: date) -> None:
    """Steps 1-4: the small history, t7, the large history, t30, the baselines (into ``bench.figures``)."""
    small, days = args.small_days, args.days
    kept = load(bench, end - timedelta(days=small - 1), small)
    for i in range(args.warmup):
        say(f"warm-up build {i + 1}/{args.warmup} of {end} (the server's JIT): {build_cli(bench, end).line()}")
    a = measure_at(bench, end, args.repeat, small)
    kept += load(bench, end - timedelta(days=days - 1), days - small)
    b = measure_at(bench, end, args.repeat, days)
    f = bench.figures
    f["docs per day"] = f"{bench.per_day:,} generated per event-time day ({kept / days:,.0f} kept on average)"
    f["history"] = (f"{days} days in cold ({kept:,} transactions, HDFS Parquet, one archive batch a date): "
                    f"first the {small} up to D = {end}, then {days - small} earlier; D has {b.last.rows:,} "
                    f"transactions, its window {bench.settings.marts_window_days} days")
    for at in (a, b):
        f[f"t{at.days} (D, {at.days} days archived)"] = (
            f"{at.median_s:.1f} s, CPU {at.median_cpu_s:.1f} s (medians of {args.repeat} `marts build --date D`: "
            f"the job's time; the stack's + CLI's CPU); CLI wall {at.last.wall_s:.1f} s")
    f[f"ratio t{days}/t{small}"] = (f"{b.median_s / a.median_s:.2f} in time, {b.median_cpu_s / a.median_cpu_s:.2f} "
                                    "in CPU (target ~1: the cost of a date does not grow with history)")
    f["HDFS ops per build"] = f"{a.last.ops} at {small} days; {b.last.ops} at {days} days"
    f["baseline: build, read unpruned"] = (
        f"{a.full.seconds:.1f} s / CPU {a.full.cpu_s:.1f} s at {small} days, {b.full.seconds:.1f} s / CPU "
        f"{b.full.cpu_s:.1f} s at {days} days (CPU ratio {b.full.cpu_s / a.full.cpu_s:.2f}); pruned beside it "
        f"{a.pruned.seconds:.1f} s / {a.pruned.cpu_s:.1f}, {b.pruned.seconds:.1f} s / {b.pruned.cpu_s:.1f} "
        f"(CPU ratio {b.pruned.cpu_s / a.pruned.cpu_s:.2f}); same figures")
    f["baseline HDFS ops"] = f"unpruned {a.full.ops} at {small} days, {b.full.ops} at {days} days"
    f["where a build's time goes"] = f"{b.pruned.split()} (pruned, {days} days)"
    if args.pairs:
        interleaved(bench, args)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-day", type=int, default=5000, help="transactions per event-time day (5000)")
    parser.add_argument("--days", type=int, default=30, help="days of history in the end (30)")
    parser.add_argument("--small-days", type=int, default=7, help="days of history for the first figure (7)")
    parser.add_argument("--end", type=date.fromisoformat, default=DEFAULT_END, help=f"the date D ({DEFAULT_END})")
    parser.add_argument("--repeat", type=int, default=3, help="timed builds per history size (3)")
    parser.add_argument("--pairs", type=int, default=3,
                        help="pairs of builds alternating the small and the large history at the end (3); 0: none")
    parser.add_argument("--warmup", type=int, default=2, help="untimed builds first (2): the server's JIT warm-up")
    parser.add_argument("--chunk-days", type=int, default=7,
                        help="days generated, counted and archived at a time (7): keeps the hot store small")
    parser.add_argument("--stall-s", type=float, default=120.0,
                        help="a build silent this long is hung: killed and run again (120)")
    parser.add_argument("--customers", type=int, default=50_000, help="customers dimension size (50,000)")
    parser.add_argument("--gen-rate", type=float, default=5000.0,
                        help="the generator's --rate, wall tx/s; above what the store takes, so it runs flat out")
    parser.add_argument("--model", type=Path, default=CHECKOUT / ".state" / "models" / "ctgan.pkl",
                        help="a trained model (default: the demo's; trained --quick when missing)")
    parser.add_argument("--keep", action="store_true", help="leave the stack up (and its temp dir) for inspection")
    args = parser.parse_args()
    if not 0 < args.small_days < args.days or args.chunk_days < 1 or args.end >= datetime.now(UTC).date():
        parser.error("need 0 < --small-days < --days, --chunk-days >= 1 and --end before today (UTC)")
    return args


def backfill_figures(bench: Bench, args: argparse.Namespace) -> None:
    """The backfill's total and per-date figures; growth is judged on the dates whose window is full (the first
    dates' windows reach before the history), first five against last five (more marts published by then)."""
    cpu = bench.cpu()
    wall, per_date, rows = backfill(bench, args.end - timedelta(days=args.days - 1), args.end)
    cpu = bench.cpu() - cpu
    full = per_date[bench.settings.marts_window_days - 1:] or per_date
    five = min(5, len(full) // 2) or 1
    bench.figures[f"backfill ({len(per_date)} dates)"] = (
        f"{wall:.0f} s total, {wall / len(per_date):.1f} s per date (job {statistics.mean(per_date):.1f} s); CPU "
        f"{cpu / len(per_date):.1f} s per date; "
        f"{min(rows):,}..{max(rows):,} transactions a date")
    bench.figures["backfill, full-window dates"] = (
        f"job {statistics.mean(full):.1f} s a date over {len(full)}; first {five} {statistics.mean(full[:five]):.1f} s"
        f", last {five} {statistics.mean(full[-five:]):.1f} s")
    after = build_cli(bench, args.end)
    say(f"D again, {len(per_date)} dates of marts published: {after.line()}")
    bench.figures[f"D, {len(per_date)} marts dates published"] = (
        f"job {after.job_s:.1f} s, CPU {after.cpu_s:.1f} s; {after.ops} (history.publish reads every published "
        "date's marts)")


def main() -> None:
    args = parse_args()
    settings, state = private_stack(args)
    try:
        bench = start_stack(settings, args)
        if args.small_days < settings.marts_window_days:
            say(f"note: --small-days < the {settings.marts_window_days}-day window: D's input grows too")
        history_figures(bench, args, args.end)
        backfill_figures(bench, args)
        bench.figures["machine"] = machine()
        print(f"\nmarts bench (.venv/bin/python bench/marts.py --per-day {args.per_day} --days {args.days} "
              f"--small-days {args.small_days}), wall {(time.monotonic() - T0) / 60:.1f} min")
        for label, value in bench.figures.items():
            print(f"  {label:<32}{value}")
        print(BASELINE_NOTE)
        if bench.hangs:
            print(HANG_NOTE.format(count=len(bench.hangs), what="; ".join(bench.hangs), stall=bench.stall_s))
        bench.db.client.close()
    finally:
        if args.keep:
            env = f"env $(cat {state}/bench.env | xargs)"
            print(f"\nstack left up: {env} .venv/bin/paylake marts status\nstop it: {env} .venv/bin/python -c "
                  f"'from paylake.settings import load_settings; from paylake.stack import manager; "
                  f"manager.down(load_settings())'; rm -rf {state}")
        else:
            manager.down(settings, echo=lambda _line: None)
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    main()
