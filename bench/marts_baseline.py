"""The marts bench's baselines: the build of D with its lake read not pruned (in a child process, timed phase
by phase), and the small and the large history alternated ABBA by hiding the older dates with HDFS renames.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import queue
import statistics
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from marts_cli import Bench, Built, Ops, build_cli, load_avg, say

from paylake.jobs import DAILY_MARTS
from paylake.settings import Settings


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
