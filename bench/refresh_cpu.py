"""Server CPU per KPI refresh under Spark SQL settings, A/B on one warm Spark Connect server. Prints figures.

    .venv/bin/python bench/refresh_cpu.py [--variant NAME='{"spark.sql.x": "v"}' ...] [--per 140]
                                          [--block 30] [--rounds 4] [--warm 240] [--model PATH]

Starts its own stack (FerretDB, Redis, Spark Connect; 50,000 customers) and runs the KPI loop's refresh as
the demo does at 20 tx/s with a 7-s period: each step inserts --per new transactions (ingested 6 s ago) and
refreshes. Each variant is the job's own settings (``KPI_REFRESH.spark_conf``) with its JSON on top and keeps
its own loop cache. After --warm steps (variants in turns of 20, so the JIT warms up on all), blocks of
--block refreshes alternate between the variants (order reversed every round), and each block's CPU of the
server's JVM (and of its JIT compiler threads) is divided by its refreshes. The first variant is the baseline.
Wall-clock and machine load do not enter the figures, only CPU seconds, so a busy machine blurs them less.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import soak_support as ss
from procs import jvm_cpu_s

from paylake import clock, indexes, names
from paylake.generator import dimensions, model, records
from paylake.generator.simulate import SimOptions, Simulator
from paylake.jobs import KPI_REFRESH
from paylake.kpi.job import run_refresh
from paylake.kpi.recent import LoopCache
from paylake.mongo import open_db
from paylake.spark import active, build_session
from paylake.stack import manager

CUSTOMERS = 50_000
TURN = 20  # warm-up steps per variant in turn


@dataclass
class Variant:
    name: str
    conf: dict[str, str]
    cache: LoopCache = field(default_factory=LoopCache)
    blocks: list[tuple[float, float]] = field(default_factory=list)  # (server, JIT) CPU-s per refresh


def parse_variant(text: str) -> Variant:
    name, _, conf = text.partition("=")
    try:
        extra = json.loads(conf or "{}")
    except json.JSONDecodeError as exc:
        raise SystemExit(f"--variant {name}: not JSON ({exc}): {conf!r}") from None
    return Variant(name, {**KPI_REFRESH.spark_conf, **{str(k): str(v) for k, v in extra.items()}})


def payments(model_path: Path, dims: dimensions.Dimensions, count: int) -> list[dict[str, Any]]:
    """``count`` transactions of the trained model's simulation (their times are set when inserted)."""
    sim = Simulator(model.load(model_path), dims, SimOptions(start=time.time(), rate=20.0), np.random.default_rng(1))
    pool: list[dict[str, Any]] = []
    while len(pool) < count:
        pool += records.to_records(sim.chunk(20_000), "rcpu", len(pool))
    for doc in pool:
        doc.pop("_t", None)
    return pool


class Steps:
    """Insert the next --per transactions as just ingested, then refresh under a variant's settings."""

    def __init__(self, spark: Any, settings: Any, db: Any, pool: list[dict[str, Any]], per: int) -> None:
        self.spark, self.settings, self.db, self.pool, self.per, self.at = spark, settings, db, pool, per, 0
        self.keys: set[str] = set()  # every key some variant sets: unset where the next one does not

    def __call__(self, variant: Variant) -> None:
        self.keys |= set(variant.conf)
        for key in self.keys - set(variant.conf):
            self.spark.conf.unset(key)
        for key, value in variant.conf.items():
            self.spark.conf.set(key, value)
        if self.at + self.per > len(self.pool):
            raise SystemExit("ran out of prepared transactions: a bug in the bench's sizing")
        docs, now = self.pool[self.at : self.at + self.per], clock.now()
        self.at += self.per
        for j, doc in enumerate(docs):
            doc["ingest_time"] = now - timedelta(seconds=6) + timedelta(milliseconds=j)
            doc["event_time"] = now - timedelta(seconds=7) + timedelta(milliseconds=5 * j)
        self.db[names.TRANSACTIONS].insert_many(docs, ordered=False)
        run_refresh(self.spark, self.settings, until=clock.now(), cache=variant.cache)


def measure(steps: Steps, server: Any, variants: list[Variant], args: argparse.Namespace) -> None:
    for n in range(args.warm):
        steps(variants[(n // TURN) % len(variants)])
    print(f"warmed up: {args.warm} refreshes", flush=True)
    for r in range(args.rounds):
        for variant in variants if r % 2 == 0 else variants[::-1]:
            steps(variant)  # its cache is stale after another variant's refreshes: reloaded, not timed
            server0, jit0 = jvm_cpu_s(server)
            for _ in range(args.block):
                steps(variant)
            server1, jit1 = jvm_cpu_s(server)
            variant.blocks.append(((server1 - server0) / args.block, (jit1 - jit0) / args.block))
            print(f"  round {r + 1} {variant.name:>12}: server {variant.blocks[-1][0]:.3f} s per refresh "
                  f"(JIT {variant.blocks[-1][1]:.3f})", flush=True)


def report(variants: list[Variant]) -> None:
    base = float(np.mean([b[0] for b in variants[0].blocks]))
    for variant in variants:
        server, jit = np.mean(variant.blocks, axis=0)
        spread = np.ptp([b[0] for b in variant.blocks])
        print(f"{variant.name:>12}: server {server:.3f} s of CPU per refresh (JIT {jit:.3f}; blocks spread "
              f"{spread:.3f}) = {server / base:.0%} of {variants[0].name}; settings {json.dumps(variant.conf)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", action="append", default=[], help="NAME=JSON of Spark SQL settings")
    parser.add_argument("--per", type=int, default=140, help="new transactions per refresh (20 tx/s x 7 s)")
    parser.add_argument("--block", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--warm", type=int, default=240)
    parser.add_argument("--model", type=Path, default=ss.MODEL, help="a trained model (default: the demo's)")
    args = parser.parse_args()
    texts = args.variant or ["job", 'adaptive={"spark.sql.adaptive.enabled": "true"}']
    variants = [parse_variant(t) for t in texts]
    state = Path(tempfile.mkdtemp(prefix="refresh-cpu-"))
    settings = manager.private_settings(state, mongo_db="rcpu").with_overrides(
        cold_uri=f"file://{state}/cold", customers=CUSTOMERS, model_path=args.model)
    manager.up(settings, echo=lambda _line: None)
    try:
        ss.ensure_model(ss.soak_env(settings), args.model)  # the quick model, trained on the spot if missing
        with open_db(settings) as db:
            dims = dimensions.build_dimensions(customers=CUSTOMERS)
            dimensions.reseed(db, dims)
            indexes.ensure(db)
            count = args.per * (args.warm + len(variants) * (args.block + 1) * args.rounds)
            pool = payments(args.model, dims, count)
            server = next(s for s in manager.services(settings) if s.name == "spark-connect")
            spark = build_session(settings, "refresh-cpu")
            with active(spark):
                measure(Steps(spark, settings, db, pool, args.per), server, variants, args)
            spark.stop()
        report(variants)
    finally:
        manager.down(settings, echo=lambda _line: None)


if __name__ == "__main__":
    main()
