"""bench/kpi_phases.py's loop figure: how many rows per second the KPI loop counts while it is behind.

A stream of ``rate`` rows per second of ingest time is stored first (its inserts then cost nothing during
the measurement, unlike a live stream's), an hour after the phases' rows so that no lookback is read; the
watermark is set at its start, and the loop (``paylake.kpi.loop.loop``: its period, its prefetching if the
version has it) runs for ``seconds`` against a clock that starts at the stream's start and runs at the
wall clock's pace. At a rate above what the loop can count, it stays behind: the rows it counted per wall
second are its throughput, and its lag at the end (the clock − the watermark) shows how far behind; at a
rate it keeps up with, its CPU per row is what counting costs in steady state.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from kpi import docs, insert  # the bench's data

from paylake.kpi import loop, state
from paylake.settings import Settings

CHUNK = 50_000  # rows generated and inserted at a time (bounds the dicts held)


def store_stream(db: Any, start: datetime, rate: int, seconds: float, customers: int) -> int:
    total = int(rate * seconds)
    for first in range(0, total, CHUNK):
        count = min(CHUNK, total - first)
        at = start + timedelta(seconds=first / rate)
        insert(db, docs(count, at, rate * 60, f"loop{rate}_{first:09d}_", 7 + first, customers))
    return total


def measure(spark: Any, settings: Settings, db: Any, meter: Any, start: datetime, rate: int, args: Any) -> datetime:
    """Store the stream from ``start``, run the loop for ``args.loop_seconds`` and print its throughput;
    returns the stream's end."""
    took = time.monotonic()
    stored = store_stream(db, start, rate, args.loop_seconds * 1.1, args.customers)
    print(f"\nloop stream: {stored:,} rows at {rate:,}/s of ingest time, stored in "
          f"{time.monotonic() - took:.1f} s", flush=True)
    state.write_watermark(db, start - timedelta(milliseconds=1))
    began = time.monotonic()
    fake = SimpleNamespace(now=lambda: start + timedelta(seconds=time.monotonic() - began))
    loop.clock = fake  # type: ignore[assignment]  # the loop's clock (and its prefetcher's bound)
    meter.spent.clear()
    meter.mark(None)
    result = loop.loop(spark, settings, began + args.loop_seconds)
    meter.mark("loop")
    wall = time.monotonic() - began
    spent = meter.spent["loop"]
    cpu = spent["client"] + spent["ferret"] + spent["server"]
    watermark = state.read_watermark(db)
    lag = (start + timedelta(seconds=wall) - watermark).total_seconds() if watermark else float("nan")
    print(f"loop: {result.refreshes} refreshes ({result.failures} failed), {result.new_count:,} rows in "
          f"{wall:.1f} s = {result.new_count / wall:,.0f} rows/s; lag at the end {lag:.1f} s; slowest "
          f"refresh {result.slowest_s:.1f} s; CPU {cpu:.1f} s (client {spent['client']:.1f}, FerretDB "
          f"{spent['ferret']:.1f}, server {spent['server']:.1f}) = {result.new_count / cpu:,.0f} rows per "
          f"CPU-s", flush=True)
    return start + timedelta(seconds=stored / rate)
