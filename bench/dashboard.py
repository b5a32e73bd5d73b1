"""Time one dashboard refresh's Redis reads with a full 24 h snapshot, against a naive one-command-per-key read.

Starts its own redis-server on a free port (never 6379), publishes 1440 minutes of series for every metric,
all headline windows, 200 alerts, the hot-store size and 10 archive batches, then times
``paylake.dashboard.data.load`` (3 round trips) and a naive read (one GET/HGETALL/LRANGE per key, 16 round
trips) in the same run, interleaved so both see the same machine load. Run: .venv/bin/python bench/dashboard.py
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from paylake import names
from paylake.dashboard import data, sample
from paylake.settings import load_settings
from paylake.stack.process import free_port
from paylake.stack.servers import redis_service

ROUNDS = 300


def naive_load(client: redis.Redis) -> dict[str, Any]:
    """The same data, one round trip per key, decoded the same way (the JSON parsing is the same work)."""
    version = client.get(names.KPI_CURRENT)
    out: dict[str, Any] = {"meta": client.hgetall(names.kpi_snapshot_key(str(version), "meta"))}
    series = client.hgetall(names.kpi_snapshot_key(str(version), "series"))
    out["series"] = {k: json.loads(v) for k, v in series.items()}
    for window in names.WINDOWS:
        out[f"h:{window}"] = client.hgetall(names.kpi_headline_key(str(version), window))
        out[f"r:{window}"] = client.hgetall(names.kpi_revenue_key(str(version), window))
    out["alerts"] = [json.loads(a) for a in client.lrange(names.ALERTS_RECENT, 0, names.ALERTS_RECENT_MAX - 1)]
    out["hot"] = client.hgetall(names.HOT_SIZE)
    out["archive"] = [json.loads(b) for b in client.lrange(names.ARCHIVE_RECENT, 0, 9)]
    for key in (names.MARTS_HISTORY, names.DQ_LAST):
        raw = client.get(key)
        out[key] = json.loads(raw) if raw else None
    out["gate_runs"] = [json.loads(r) for r in client.lrange(names.DQ_RECENT, 0, 9)]
    return out


def _ms(samples: list[float]) -> str:
    q = statistics.quantiles(samples, n=100)
    return f"p50 {q[49]:6.2f} ms   p95 {q[94]:6.2f} ms   mean {statistics.fmean(samples):6.2f} ms"


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="paylake-bench-") as tmp:
        port = free_port()
        settings = load_settings({}).with_overrides(state_dir=Path(tmp), redis_url=f"redis://127.0.0.1:{port}/0")
        server = redis_service(settings, Path(tmp) / "run")
        server.start()
        try:
            client = data.connect(settings.redis_url)
            sample.publish_all(client, datetime.now(UTC))
            payload = data.load(client)
            assert payload.snapshot is not None and len(payload.snapshot.series.minutes) == 1440
            assert len(payload.alerts) == names.ALERTS_RECENT_MAX
            readers: dict[str, Callable[[], object]] = {
                "dashboard load (3 round trips)": lambda: data.load(client),
                "naive, 1 command per key (16)": lambda: naive_load(client),
            }
            timings: dict[str, list[float]] = {name: [] for name in readers}
            for _ in range(20):  # warm up connections and caches
                for read in readers.values():
                    read()
            for _ in range(ROUNDS):
                for name, read in readers.items():
                    started = time.perf_counter()
                    read()
                    timings[name].append((time.perf_counter() - started) * 1000)
            series_bytes = sum(len(v) for v in client.hgetall(names.kpi_snapshot_key(payload.snapshot.version,
                                                                                      "series")).values())
            print(f"Redis {server.address}; snapshot: 1440 minutes x {len(payload.snapshot.series.values)} series "
                  f"({series_bytes / 1024:.0f} KiB of JSON), {len(payload.snapshot.headlines)} windows, "
                  f"{len(payload.alerts)} alerts, {len(payload.archive_batches)} archive batches; {ROUNDS} rounds")
            for name, samples in timings.items():
                print(f"  {name:32s} {_ms(samples)}")
            speedup = statistics.median(timings[list(readers)[1]]) / statistics.median(timings[list(readers)[0]])
            print(f"  naive / dashboard (p50): {speedup:.2f}x")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
