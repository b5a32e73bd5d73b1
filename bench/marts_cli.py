"""The marts bench's runner: `paylake` commands against the private stack, with progress, a stall watchdog and
the NameNode operations and CPU each build caused.
"""

from __future__ import annotations

import os
import queue
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import IO, Any

from procs import process_cpu_s

from paylake.settings import Settings
from paylake.stack import manager
from paylake.stack.process import family

BUILD_LINE = re.compile(r"\] (\d{4}-\d{2}-\d{2}): (\d+) transactions, .* in ([\d.]+) s$")
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[{(time.monotonic() - T0) / 60:5.1f} min] {message}", flush=True)


def load_avg() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


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
