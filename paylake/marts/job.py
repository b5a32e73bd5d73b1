"""Build one UTC date's marts: read hot ∪ cold once, compute the four marts, stage them, gate, publish.

Order (store.py describes the layout and the publish protocol):
  recover    dates a crash left ``publishing`` are rolled forward; orphaned staging dirs removed
  read       the lake over the trailing window, exactly once (reads.read_inputs), and the dimensions
  stage      each mart written under ``marts/_staging/<run>/``: invisible to readers
  gates      the fact's checks and the staged marts' row counts (read back from storage); recorded in
             MongoDB (and Redis); a failure raises GateFailed and discards the staging: nothing published
  publish    the staged marts replace the date's (``publish=False`` stops before: the DAG's second task)
A re-run or backfill of a date replaces it; it never adds to it.
"""

from __future__ import annotations

import json
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import faults
from paylake.archive.coldfs import ColdFS, open_cold
from paylake.clock import now
from paylake.jobs import DAILY_MARTS
from paylake.lock import job_lock
from paylake.marts import gates, history, reads, results, store, transforms
from paylake.mongo import open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

# The marts whose rows add up to the date's transactions (customer_segments covers the trailing window).
COUNTED = {"daily_summary": "category IS NULL", "merchant_daily": "true", "hourly_patterns": "true"}


@dataclass
class BuildResult:
    date: str
    run_id: str = ""
    fact_rows: int = 0
    rows: dict[str, int] = field(default_factory=dict)  # mart → rows written
    failed_checks: list[str] = field(default_factory=list)
    published: bool = False
    recovered: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> str:
        return json.dumps(asdict(self))


def as_date(day: date | str) -> date:
    return day if isinstance(day, date) else date.fromisoformat(str(day)[:10])


def compute(inputs: reads.Inputs, window_days: int) -> dict[str, DataFrame]:
    """The four marts of ``inputs.day`` (pure: frames in, frames out)."""
    rows = transforms.prepare(inputs.lake, inputs.merchants, inputs.categories, inputs.customers,
                              (inputs.start, inputs.end)).localCheckpoint(eager=False)
    return {
        "daily_summary": transforms.daily_summary(rows),
        "merchant_daily": transforms.merchant_daily(rows),
        "hourly_patterns": transforms.hourly_patterns(rows),
        "customer_segments": transforms.customer_segments(inputs.lake, inputs.customers, inputs.end, window_days),
    }


def staged_rows(staged: dict[str, DataFrame]) -> dict[str, int]:
    """Each staged mart's row count and, for the COUNTED ones, the transactions it adds up to (one action)."""
    from pyspark.sql import functions as F

    parts = [frame.agg(F.lit(name).alias("mart"), F.count(F.lit(1)).alias("rows"),
                       (F.sum(F.when(F.expr(COUNTED[name]), F.col("transactions")))
                        if name in COUNTED else F.lit(None)).cast("long").alias("transactions"))
             for name, frame in staged.items()]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    out: dict[str, int] = {}
    for r in union.collect():
        out[r["mart"]] = int(r["rows"])
        if r["mart"] in COUNTED:
            out[f"{r['mart']}.transactions"] = int(r["transactions"] or 0)
    return out


def _gate(spark: SparkSession, db: Database[Any], fs: ColdFS, inputs: reads.Inputs, out: BuildResult) -> None:
    staged = store.read_staged(spark, fs, out.run_id, inputs.day)
    out.fact_rows, checks = gates.check_fact(inputs.fact, inputs.merchants, inputs.categories, inputs.customers)
    counts = staged_rows(staged)
    out.rows = {m: counts[m] for m in store.MARTS}
    checks.append(gates.row_count(out.fact_rows, {m: counts[f"{m}.transactions"] for m in COUNTED}))
    results.record(db, out.run_id, inputs.day, checks)
    out.failed_checks = [c.name for c in checks if not c.passed]
    if out.failed_checks:
        fs.delete(f"{store.STAGING}/{out.run_id}")
        raise results.failure(inputs.day, checks)


def build(spark: SparkSession, settings: Settings, db: Database[Any], fs: ColdFS, out: BuildResult) -> None:
    """Read, compute, stage and gate ``out.date``; on success the date's staged run is ``out.run_id``."""
    day = as_date(out.date)
    inputs = reads.read_inputs(spark, settings, db, day)
    out.run_id = f"{day.isoformat()}-{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    store.stage(fs, compute(inputs, settings.marts_window_days), out.run_id, day)
    faults.maybe_fail("stage")
    _gate(spark, db, fs, inputs, out)
    store.mark_staged(db, day, out.run_id, out.rows)
    faults.maybe_fail("gates")


@contextmanager
def _locked(settings: Settings, out: BuildResult) -> Iterator[tuple[Database[Any], ColdFS]]:
    """The job's lock, with recovery first (dates left publishing, orphaned staging); on the way out, the
    gate runs and the history mirrored to Redis whatever the outcome."""
    with open_db(settings) as db:
        fs = open_cold(settings)
        try:
            with job_lock(db, DAILY_MARTS):
                out.recovered = store.recover(fs, db)
                yield db, fs
        finally:
            history.publish(settings, db)


def run(spark: SparkSession, settings: Settings, day: date | str, publish: bool = True) -> BuildResult:
    """Build (and unless ``publish`` is False, publish) the marts of ``day`` under the job's lock."""
    started, out = time.monotonic(), BuildResult(as_date(day).isoformat())
    with _locked(settings, out) as (db, fs), warnings.catch_warnings():
        # customer_segments ranks every customer in one window partition on purpose (transforms._score);
        # Spark Connect warns when a plan holding it is sent, at each action.
        warnings.filterwarnings("ignore", message=".*No Partition Defined for Window")
        build(spark, settings, db, fs, out)
        out.published = publish and store.publish(fs, db, as_date(day), out.run_id)
    out.seconds = round(time.monotonic() - started, 2)
    return out


def publish_staged(settings: Settings, day: date | str, run_id: str) -> BuildResult:
    """The DAG's publish task: install ``run_id``'s staged marts of ``day`` (no Spark needed)."""
    started, out = time.monotonic(), BuildResult(as_date(day).isoformat(), run_id)
    with _locked(settings, out) as (db, fs):
        out.published = store.publish(fs, db, as_date(day), run_id)
    out.seconds = round(time.monotonic() - started, 2)
    return out
