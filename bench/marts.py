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
import contextlib
import json
import multiprocessing
import os
import queue
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from procs import process_cpu_s
from pymongo import MongoClient

from paylake import names
from paylake.jobs import DAILY_MARTS
from paylake.settings import Settings, settings_env
from paylake.stack import manager
from paylake.stack.checkout import CHECKOUT
from paylake.stack.process import family

DEFAULT_END = date(2026, 11, 29)  # a fixed D: the data never depends on the day the bench runs
BUILD_LINE = re.compile(r"\] (\d{4}-\d{2}-\d{2}): (\d+) transactions, .* in ([\d.]+) s$")
T0 = time.monotonic()
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


def say(message: str) -> None:
    print(f"[{(time.monotonic() - T0) / 60:5.1f} min] {message}", flush=True)


@dataclass
class Bench:
    settings: Settings
    env: dict[str, str]
    db: Any  # the private stack's database (pymongo)
    per_day: int
    gen_rate: float
    chunk_days: int
    audit: Audit
    stall_s: float  # a build silent this long is hung (see HANG_NOTE): killed and run again
    figures: dict[str, str] = field(default_factory=dict)  # the final block, in order
    hangs: list[str] = field(default_factory=list)

    def cpu(self) -> float:
        """CPU seconds used so far by the private stack's servers (Spark Connect's JVM, FerretDB, HDFS, Redis)
        and by the bench's finished children (the CLI runs, the in-process builds): a build's CPU is the
        difference, which the other work on this machine does not inflate the way it inflates wall time."""
        pids: set[int] = set()
        for service in manager.services(self.settings):
            if (pid := service.pid()) is not None:
                pids |= family(pid) | {pid}
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return sum(map(process_cpu_s, pids)) + children.ru_utime + children.ru_stime

    def hung(self, what: str, seconds: float) -> None:
        self.hangs.append(what)
        if self.hangs.count(what) >= 3:
            raise SystemExit(f"{what} hung 3 times (no progress for {seconds:.0f} s each): giving up")
        say(f"HUNG: {what}: no progress for {seconds:.0f} s, killed; running it again (see the note at the end)")


class Stalled(Exception):
    """A `paylake` child printed nothing for ``stall_s``: it was killed."""

    def __init__(self, lines: list[str], active_s: float) -> None:
        super().__init__(f"stalled after {len(lines)} lines")
        self.lines, self.active_s = lines, active_s  # active_s: start to its last line (the stall excluded)


def cli(bench: Bench, *args: str, echo: Callable[[str], bool] | None = None,
        stall_s: float | None = None) -> tuple[list[str], float]:
    """Run `paylake ARGS` against the private stack; its output lines and wall seconds. Lines for which
    ``echo`` is true are printed as they come (progress); a failure prints the tail and stops the bench; no
    output for ``stall_s`` kills the child (its pid) and raises Stalled."""
    command = [str(Path(sys.executable).parent / "paylake"), *args]
    started = last = time.monotonic()
    proc = subprocess.Popen(command, env=bench.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    got: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc.stdout, got), daemon=True).start()
    lines: list[str] = []
    while (line := got.get() if stall_s is None else _next(got, last + stall_s)) is not None:
        if line is STALL:
            proc.kill()
            proc.wait()
            raise Stalled(lines, last - started)
        last = time.monotonic()
        lines.append(line.rstrip("\n"))
        if echo is not None and echo(lines[-1]):
            print(f"           | {lines[-1]}", flush=True)
    seconds = time.monotonic() - started
    if proc.wait() != 0:
        tail = "\n".join(lines[-40:])
        raise SystemExit(f"`paylake {' '.join(args)}` failed (exit {proc.returncode}):\n{tail}")
    return lines, seconds


STALL = "<stalled>"


def _pump(stream: IO[str] | None, got: queue.Queue[str | None]) -> None:
    for line in stream or ():
        got.put(line)
    got.put(None)


def _next(got: queue.Queue[str | None], deadline: float) -> str | None:
    try:
        return got.get(timeout=max(deadline - time.monotonic(), 0.1))
    except queue.Empty:
        return STALL


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


AUDIT = re.compile(r"\tcmd=(open|listStatus)\tsrc=(\S+)")
PARTITION = re.compile(r"/transactions/date=(\d{4}-\d{2}-\d{2})/")


@dataclass(frozen=True)
class Ops:
    """What a build asked the NameNode, from its audit log: files opened for reading (Spark, and WebHDFS for
    DuckDB), directories listed, and the archive's date partitions among the files opened."""

    opens: int = 0
    listings: int = 0
    dates: int = 0

    def __str__(self) -> str:
        return f"{self.opens} files opened ({self.dates} archive dates), {self.listings} dirs listed"


class Audit:
    """The NameNode's audit log (FSNamesystem.audit, in namenode.log at INFO): every open and listStatus."""

    def __init__(self, settings: Settings) -> None:
        self.path = settings.state_dir / "hdfs" / "logs" / "namenode.log"

    def mark(self) -> int:
        return self.path.stat().st_size

    def since(self, offset: int) -> Ops:
        time.sleep(0.5)  # let the last audit lines reach the file
        text = ""
        if self.path.stat().st_size < offset:  # rolled over (16 MB): the rest of the old file, then the new one
            with open(self.path.with_name(self.path.name + ".1"), "rb") as old:
                old.seek(offset)
                text, offset = old.read().decode(errors="replace"), 0
        with open(self.path, "rb") as log:
            log.seek(offset)
            text += log.read().decode(errors="replace")
        found = AUDIT.findall(text)
        dates = {m.group(1) for cmd, src in found if cmd == "open" and (m := PARTITION.search(src))}
        return Ops(sum(cmd == "open" for cmd, _ in found), sum(cmd == "listStatus" for cmd, _ in found), len(dates))


def load_avg() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


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


@dataclass(frozen=True)
class Built:
    job_s: float  # the job's own seconds (BuildResult.seconds): session start-up and imports excluded
    wall_s: float  # the CLI process, end to end
    rows: int  # the date's transactions
    ops: Ops
    cpu_s: float  # the stack's and the CLI's CPU seconds during the build

    def line(self) -> str:
        return (f"{self.rows:,} transactions, job {self.job_s:.1f} s (CLI wall {self.wall_s:.1f} s), CPU "
                f"{self.cpu_s:.1f} s, {self.ops}; {load_avg()}")


def build_cli(bench: Bench, day: date) -> Built:
    """`paylake marts build --date D`, with the NameNode operations it caused (a hung build is run again)."""
    while True:
        before, cpu = bench.audit.mark(), bench.cpu()
        try:
            lines, wall = cli(bench, "marts", "build", "--date", day.isoformat(), stall_s=bench.stall_s)
            break
        except Stalled:
            bench.hung(f"`paylake marts build --date {day}`", bench.stall_s)
    cpu = bench.cpu() - cpu
    ops = bench.audit.since(before)
    found = [m for line in lines if (m := BUILD_LINE.search(line))]
    if not found:
        raise SystemExit("unexpected `marts build` output:\n" + "\n".join(lines[-20:]))
    return Built(float(found[-1].group(3)), wall, int(found[-1].group(2)), ops, cpu)


def builds(bench: Bench, day: date, repeat: int, label: str) -> tuple[float, float, Built]:
    """``repeat`` CLI builds of ``day``: the medians of the job's seconds and of the CPU, and the last build."""
    jobs, cpus = [], []
    for i in range(repeat):
        built = build_cli(bench, day)
        jobs.append(built.job_s)
        cpus.append(built.cpu_s)
        say(f"{label} build {i + 1}/{repeat} of {day}: {built.line()}")
    return statistics.median(jobs), statistics.median(cpus), built


@contextlib.contextmanager
def patched(target: Any, attr: str, wrap: Callable[[Callable[..., Any]], Callable[..., Any]]) -> Iterator[None]:
    original = getattr(target, attr)
    setattr(target, attr, wrap(original))
    try:
        yield
    finally:
        setattr(target, attr, original)


def timer(spent: dict[str, float], phase: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            try:
                return func(*args, **kwargs)
            finally:
                spent[phase] = spent.get(phase, 0.0) + time.monotonic() - started
        return timed
    return wrap


def unpruned(spark_views: Callable[..., Any]) -> Callable[..., Any]:
    """The lake read with no date bounds (every cold date listed and opened), then the same event-time range:
    what a build costs when its read is not pruned by the ``date`` partitions."""
    def read(spark: Any, settings: Settings, start: datetime | None = None, end: datetime | None = None) -> Any:
        from pyspark.sql import functions as F

        transactions, archive = spark_views(spark, settings)
        keep = (F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end))
        return transactions.where(keep), archive.where(keep)
    return read


@dataclass
class InProcess:
    seconds: float
    phases: dict[str, float]
    fact_rows: int
    rows: dict[str, int]
    ops: Ops
    cpu_s: float

    def split(self) -> str:
        other = self.seconds - sum(self.phases.values())
        return ", ".join(f"{k} {v:.1f}" for k, v in (*self.phases.items(), ("other", other))) + " s"


def patched_build(settings: Settings, day: date, prune: bool) -> dict[str, Any]:
    """One build of ``day`` as the DAG's task runs it (a Spark Connect client), timed phase by phase: read
    (lake + dimensions), stage (compute + write), gates, publish (renames), history (Redis); the lake read
    unpruned when ``prune`` is False."""
    from paylake.jobs.run import run
    from paylake.marts import history, job, reads, store

    spent: dict[str, float] = {}
    targets = (("read", reads, "read_inputs"), ("stage", store, "stage"), ("gates", job, "_gate"),
               ("publish", store, "publish"), ("history", history, "publish"))
    with contextlib.ExitStack() as stack:
        for phase, target, attr in targets:
            stack.enter_context(patched(target, attr, timer(spent, phase)))
        if not prune:
            stack.enter_context(patched(reads, "spark_views", unpruned))
        # RFM's global window: transforms._score silences this warning, but Spark Connect's client emits it
        # when the plan is sent, after that block (the CLI prints it too).
        stack.enter_context(warnings.catch_warnings())
        warnings.filterwarnings("ignore", message=".*No Partition Defined for Window")
        done = json.loads(run(DAILY_MARTS, settings, day=day.isoformat()))
    return {"seconds": float(done["seconds"]), "phases": spent, "fact_rows": int(done["fact_rows"]),
            "rows": dict(done["rows"])}


def _child(settings: Settings, day: date, prune: bool, out: Any) -> None:
    out.put(patched_build(settings, day, prune))


def _await(child: Any, results: Any, stall_s: float) -> dict[str, Any] | None:
    deadline = time.monotonic() + stall_s
    while time.monotonic() < deadline:
        try:
            found: dict[str, Any] = results.get(timeout=1.0)
            return found
        except queue.Empty:
            if not child.is_alive() and results.empty():
                if child.exitcode is not None and child.exitcode < 0:
                    return None  # killed by a signal (seen once, cause unknown): treated as a hang, run again
                raise SystemExit(f"the in-process build failed (exit {child.exitcode}): see its traceback") from None
    return None


def build_in_process(bench: Bench, day: date, prune: bool) -> InProcess:
    """``patched_build`` in a child process of the bench (so that a hung build can be killed and run again)."""
    ctx = multiprocessing.get_context("spawn")
    while True:
        before, cpu, results = bench.audit.mark(), bench.cpu(), ctx.Queue()
        child = ctx.Process(target=_child, args=(bench.settings, day, prune, results), daemon=True)
        child.start()
        done = _await(child, results, bench.stall_s)
        if done is None:
            child.kill()
        child.join()
        if done is not None:
            return InProcess(**done, ops=bench.audit.since(before), cpu_s=bench.cpu() - cpu)
        bench.hung(f"in-process build of {day} ({'pruned' if prune else 'unpruned'})", bench.stall_s)


def compare(bench: Bench, day: date, label: str) -> tuple[InProcess, InProcess]:
    """The pruned build and the unpruned baseline of ``day``, each in a child process; they must agree."""
    pruned, full = build_in_process(bench, day, True), build_in_process(bench, day, False)
    for name, got in (("pruned  ", pruned), ("UNPRUNED", full)):
        say(f"{label} in-process {name} {got.seconds:5.1f} s (CPU {got.cpu_s:.1f} s): {got.split()}; {got.ops}; "
            f"{load_avg()}")
    if (pruned.fact_rows, pruned.rows) != (full.fact_rows, full.rows):
        raise SystemExit(f"pruned and unpruned builds differ: {pruned} vs {full}")
    return pruned, full


def backfill(bench: Bench, first: date, last: date) -> tuple[float, list[float], list[int]]:
    """`paylake marts build --from first --to last`: wall seconds, each date's job seconds and transactions.
    A hung run is killed and the backfill resumed at the date it hung on; its stall is not counted."""
    say(f"backfill: paylake marts build --from {first} --to {last}")
    wall, start = 0.0, first
    found: list[re.Match[str]] = []
    while start <= last:
        try:
            lines, seconds = cli(bench, "marts", "build", "--from", start.isoformat(), "--to", last.isoformat(),
                                 echo=lambda line: BUILD_LINE.search(line) is not None, stall_s=bench.stall_s)
        except Stalled as stalled:
            lines, seconds = stalled.lines, stalled.active_s
            hung_on = start + timedelta(days=sum(bool(BUILD_LINE.search(line)) for line in lines))
            bench.hung(f"the backfill, on {hung_on}", bench.stall_s)
        done = [m for line in lines if (m := BUILD_LINE.search(line))]
        wall, found = wall + seconds, found + done
        start += timedelta(days=len(done))
    if len(found) != (last - first).days + 1:
        raise SystemExit(f"backfill built {len(found)} dates, expected {(last - first).days + 1}")
    return wall, [float(m.group(3)) for m in found], [int(m.group(2)) for m in found]


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


@contextlib.contextmanager
def older_hidden(bench: Bench, first_kept: date) -> Iterator[None]:
    """The archive's dates before ``first_kept`` renamed out of ``transactions/`` (one HDFS rename each), and
    back on exit: the lake then holds only the small history, without regenerating anything."""
    from paylake.archive.coldfs import open_cold

    fs, moved = open_cold(bench.settings), []
    try:
        for name in fs.list("transactions"):
            if name.startswith("date=") and name[len("date="):] < first_kept.isoformat():
                fs.rename(f"transactions/{name}", f"_bench_hidden/{name}")
                moved.append(name)
        yield
    finally:
        for name in moved:
            fs.rename(f"_bench_hidden/{name}", f"transactions/{name}")


def interleaved(bench: Bench, args: argparse.Namespace) -> None:
    """t7 and t30 again, alternating (ABBA) under the same load and JIT state: the older dates are hidden by
    renames for the small-history builds. Immune to the drift that separates the sequential t7 and t30."""
    small: list[Built] = []
    large: list[Built] = []
    first_kept = args.end - timedelta(days=args.small_days - 1)
    for i in range(2 * args.pairs):
        if i % 4 in (0, 3):
            with older_hidden(bench, first_kept):
                small.append(build_cli(bench, args.end))
            say(f"A/B {args.small_days} days: {small[-1].line()}")
        else:
            large.append(build_cli(bench, args.end))
            say(f"A/B {args.days} days: {large[-1].line()}")
    ts, tl = (statistics.median(b.job_s for b in x) for x in (small, large))
    cs, cl = (statistics.median(b.cpu_s for b in x) for x in (small, large))
    bench.figures[f"interleaved t{args.small_days} / t{args.days}"] = (
        f"{ts:.1f} / {tl:.1f} s, CPU {cs:.1f} / {cl:.1f} s: ratio {tl / ts:.2f} in time, {cl / cs:.2f} in CPU "
        f"(medians of {len(small)} + {len(large)} builds alternated ABBA; the {args.days - args.small_days} older "
        f"dates hidden by HDFS renames for the {args.small_days}-day builds; {small[-1].ops} vs {large[-1].ops})")


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
