"""Event → Redis freshness, and the CPU that KPI refreshing costs: Spark Connect loop vs spark-submit runs.

    .venv/bin/python bench/freshness.py [--minutes 10] [--rate 20] [--warmup 3] [--only connect|submit]

Starts its own stack (FerretDB, Redis, a Spark Connect server; cold store unused) on free ports in a temp
dir. For each path in turn, with a fresh database, for --minutes: `paylake generate --rate R` streams (a child
process) while the KPI refreshing runs the way the DAG runs it:
  connect  one `paylake kpi refresh --for-s S`: what a kpi_refresh task does today (a refresh at least every
           PAYLAKE_KPI_PERIOD_S, as a client of the long-lived Spark Connect server), measured after --warmup
           minutes of it: a fresh server's JIT compilers spend most of its CPU for its first minutes (60 %
           in minutes 0-2, 29 % in minutes 10-12 of one run), once per server, not per run; the warm-up
           line prints the server's CPU and its JIT share per minute, so the steady state is seen, not assumed
  submit   on every minute, one `paylake kpi refresh --spark-submit --until <that minute>`: what the DAG did
           before (a JVM per run, bounded by the interval's end); Airflow's own task start-up is not counted
Every second it samples the age of the newest counted transaction: now − the watermark that `paylake kpi
show` prints. CPU: the refresher processes (children included) plus, for connect, the Spark Connect server's
JVM (of which its JIT compiler threads, from /proc/<pid>/task/*/comm), per minute of stream.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import redis
from procs import cpu_s, jvm_cpu_s, paylake

from paylake.kpi import snapshot
from paylake.settings import Settings, settings_env
from paylake.stack import manager
from paylake.stack.checkout import CHECKOUT
from paylake.stack.process import Service

CUSTOMERS = 50_000  # freshness does not depend on the population (a refresh reads only its rows' customers)


@dataclass
class Figures:
    ages: list[float] = field(default_factory=list)
    cpu_s: float = 0.0  # refreshers (clients, or spark-submit drivers) and, for connect, the server's share
    server_cpu_s: float = 0.0  # of which the Spark Connect server's JVM
    jit_cpu_s: float = 0.0  # of which the server's JIT compiler threads
    refresher_runs: int = 0
    warmup: list[tuple[float, float]] = field(default_factory=list)  # per warm-up minute: (server, JIT) CPU s

    def line(self, name: str, minutes: float) -> str:
        a = np.array(self.ages) if self.ages else np.array([float("nan")])
        return (f"{name:<8} age of the newest counted tx: p50 {np.percentile(a, 50):6.1f} s  p95 "
                f"{np.percentile(a, 95):6.1f} s  max {a.max():6.1f} s  ({len(self.ages)} samples)   CPU "
                f"{self.cpu_s / minutes:5.1f} s per minute of stream (server {self.server_cpu_s / minutes:.1f} s, "
                f"its JIT {self.jit_cpu_s / minutes:.1f} s; {self.refresher_runs} refresher runs)")

    def warmup_line(self) -> str:
        cells = " ".join(f"{server:.1f}({jit / max(server, 1e-9):.0%})" for server, jit in self.warmup)
        return f"warm-up, server CPU s per minute (JIT share): {cells}"


def wait_cpu(proc: subprocess.Popen[bytes]) -> float:
    """Reap ``proc``; the CPU seconds it and its waited-for children used."""
    _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return float(usage.ru_utime + usage.ru_stime)


def sample(settings: Settings, out: Figures, stop: threading.Event) -> None:
    r = redis.Redis.from_url(settings.redis_url)
    while not stop.wait(1.0):
        snap = snapshot.read(r)
        if snap is not None:
            watermark = datetime.fromisoformat(snap.watermark)
            out.ages.append((datetime.now(UTC) - watermark).total_seconds())


def refresh_connect(env: dict[str, str], server: Service, window: tuple[float, float], out: Figures) -> None:
    """One `paylake kpi refresh --for-s` over the warm-up and the measured window; CPU counted in the window
    only (the refresher's and the server's: a long-lived server warms up once, not per run)."""
    warm_until, until = window
    with tempfile.TemporaryFile() as log:
        # The loop stops before a tick past its end, up to a period early: run it a minute past the window.
        proc = subprocess.Popen(paylake("kpi", "refresh", "--for-s", f"{until - time.monotonic() + 60:.0f}"), env=env,
                                stdout=subprocess.DEVNULL, stderr=log)
        last = jvm_cpu_s(server)
        while time.monotonic() + 60 <= warm_until + 1:
            time.sleep(60)
            now = jvm_cpu_s(server)
            out.warmup.append((now[0] - last[0], now[1] - last[1]))
            last = now
        time.sleep(max(warm_until - time.monotonic(), 0))
        client, (server_before, jit_before) = cpu_s(proc.pid), jvm_cpu_s(server)
        out.ages.clear()
        time.sleep(max(until - time.monotonic(), 0))
        server_after, jit_after = jvm_cpu_s(server)
        out.server_cpu_s, out.jit_cpu_s = server_after - server_before, jit_after - jit_before
        out.cpu_s = cpu_s(proc.pid) - client + out.server_cpu_s
        out.refresher_runs = 1
        if proc.poll() is not None:
            log.seek(0)
            raise SystemExit(f"the refresher ended early (exit {proc.returncode}): {log.read()[-2000:]!r}")
        proc.terminate()
        proc.wait(timeout=60)


def refresh_submit(env: dict[str, str], until: float, out: Figures) -> None:
    while True:
        now = datetime.now(UTC)
        minute = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        wait = (minute - now).total_seconds()
        if time.monotonic() + wait >= until:
            return
        time.sleep(wait)
        proc = subprocess.Popen(paylake("kpi", "refresh", "--spark-submit", "--until", minute.isoformat()), env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.cpu_s += wait_cpu(proc)
        out.refresher_runs += 1


def measure(settings: Settings, path: str, minutes: float, rate: float, warmup: float) -> Figures:
    settings = settings.with_overrides(mongo_db=f"fresh_{path}")
    redis.Redis.from_url(settings.redis_url).flushdb()
    env = {**os.environ, **settings_env(settings)}
    out, stop = Figures(), threading.Event()
    warm_s = warmup * 60 if path == "connect" else 0.0
    seconds = minutes * 60
    generator = subprocess.Popen(paylake("generate", "--rate", str(rate), "--duration", str(warm_s + seconds + 30)),
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(20)  # dimensions checked, first batches in
    sampler = threading.Thread(target=sample, args=(settings, out, stop), daemon=True)
    sampler.start()
    start = time.monotonic()
    if path == "connect":
        server = next(s for s in manager.services(settings) if s.name == "spark-connect")
        refresh_connect(env, server, (start + warm_s, start + warm_s + seconds), out)
    else:
        refresh_submit(env, start + seconds, out)
        time.sleep(max(start + seconds - time.monotonic(), 0))
    stop.set()
    generator.terminate()
    generator.wait(timeout=60)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--only", choices=("connect", "submit"))
    parser.add_argument("--warmup", type=float, default=15.0,
                        help="minutes the connect loop runs before measuring: the long-lived server's JIT "
                        "warm-up, paid once per server, not per run (default 15)")
    parser.add_argument("--model", type=Path, default=CHECKOUT / ".state" / "models" / "ctgan.pkl",
                        help="a trained model (default: the demo's; trained --quick when missing)")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="paylake-bench-freshness-"))
    settings = manager.private_settings(state, mongo_db="fresh").with_overrides(
        cold_uri=f"file://{state}/cold", customers=CUSTOMERS, model_path=args.model)
    manager.up(settings, echo=lambda _line: None)
    try:
        if not args.model.exists():
            subprocess.run(paylake("train", "--quick"), env={**os.environ, **settings_env(settings)}, check=True)
        print(f"{args.rate:g} tx/s for {args.minutes:g} min per path (connect after {args.warmup:g} min of warm-up), "
              f"{os.cpu_count()} cores; "
              f"PAYLAKE_KPI_PERIOD_S {settings.kpi_period_s:g}, lateness {settings.kpi_lateness_s:g} s", flush=True)
        results = {}
        for path in ("connect", "submit"):
            if args.only in (None, path):
                results[path] = measure(settings, path, args.minutes, args.rate, args.warmup)
                if results[path].warmup:
                    print(results[path].warmup_line(), flush=True)
                print(results[path].line(path, args.minutes), flush=True)
        if len(results) == 2:
            base = results["submit"]
            print(f"connect / submit: CPU {results['connect'].cpu_s / max(base.cpu_s, 1e-9):.0%}, age p95 "
                  f"{np.percentile(results['connect'].ages, 95):.1f} s vs {np.percentile(base.ages, 95):.1f} s")
    finally:
        manager.down(settings, echo=lambda _line: None)


if __name__ == "__main__":
    main()
