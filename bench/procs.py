"""What the benches read of processes: CPU seconds from /proc (a process, its family, its threads by name)
and the command line of this environment's `paylake` CLI. One place, so every bench counts CPU alike."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from paylake.stack.process import Service, family

TICK = os.sysconf("SC_CLK_TCK")
JIT = "CompilerThre"  # the JVM's "C1 CompilerThre", "C2 CompilerThre" threads


def paylake(*args: str) -> list[str]:
    """The `paylake` CLI of the running interpreter's environment, with ``args``."""
    return [str(Path(sys.executable).parent / "paylake"), *args]


def _ticks(stat_path: str) -> float:
    with open(stat_path) as stat:
        parts = stat.read().rsplit(")", 1)[-1].split()
    return (int(parts[11]) + int(parts[12])) / TICK  # utime + stime


def process_cpu_s(pid: int | None) -> float:
    """CPU seconds so far of one process (all its threads, exited ones included); 0.0 once it is gone."""
    if pid is None:
        return 0.0
    try:
        return _ticks(f"/proc/{pid}/stat")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_s(pid: int | None) -> float:
    """CPU seconds so far of a running process and its descendants."""
    return sum(process_cpu_s(member) for member in (family(pid) | {pid} if pid else set()))


def thread_cpu_s(pid: int | None, groups: tuple[tuple[str, str], ...]) -> dict[str, float]:
    """CPU seconds so far of the live threads of ``pid``'s family, summed by group: a thread belongs to the
    first (group, part) whose part its name (/proc/…/comm) contains, else to "other"."""
    out: dict[str, float] = {}
    for member in family(pid) | {pid} if pid else set():
        try:
            tids = os.listdir(f"/proc/{member}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{member}/task/{tid}/comm") as comm:
                    name = comm.read()
                seconds = _ticks(f"/proc/{member}/task/{tid}/stat")
            except (OSError, IndexError, ValueError):
                continue
            group = next((g for g, part in groups if part in name), "other")
            out[group] = out.get(group, 0.0) + seconds
    return out


def jvm_cpu_s(service: Service) -> tuple[float, float]:
    """CPU seconds used so far by a running server's processes, and by their JIT compiler threads."""
    return cpu_s(service.pid()), thread_cpu_s(service.pid(), (("jit", JIT),)).get("jit", 0.0)
