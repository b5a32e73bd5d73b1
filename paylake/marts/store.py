"""Where the marts live on the cold store, and how a date is replaced atomically.

Layout (relative to the archive root): ``marts/<mart>/date=YYYY-MM-DD/part-*.parquet`` (hive partitions:
DuckDB, pyarrow and Spark read ``marts/<mart>`` as one table with a ``date`` column). A build writes every
mart of its date under ``marts/_staging/<run>/`` (invisible to readers: underscore), the gates read it
back, and only then does ``publish`` move it in, one rename per mart. The date's document in MongoDB
(``names.MART_DATES``) is the authority: ``staged`` (passed its gates, not visible yet) → ``publishing``
→ ``published``. A crash while publishing is rolled forward by the next run (``recover``): renames already
done are skipped, so a date is never left half old, half new once a run has passed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import faults, names
from paylake.archive.coldfs import ColdFS
from paylake.clock import now

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

MARTS = ("daily_summary", "merchant_daily", "customer_segments", "hourly_patterns")
ROOT = "marts"
STAGING = f"{ROOT}/_staging"
TRASH = f"{ROOT}/_trash"  # a replaced version, removed once its date is published


def final_dir(mart: str, day: date) -> str:
    return f"{ROOT}/{mart}/date={day.isoformat()}"


def staged_dir(run_id: str, mart: str, day: date) -> str:
    return f"{STAGING}/{run_id}/{mart}/date={day.isoformat()}"


def stage(fs: ColdFS, marts: Mapping[str, DataFrame], run_id: str, day: date) -> None:
    """Write each mart of ``day`` as one Parquet file (a date's mart is small) under the run's staging dir."""
    for mart in MARTS:
        frame = marts[mart].drop("date").coalesce(1)
        frame.write.mode("overwrite").parquet(fs.uri(staged_dir(run_id, mart, day)))


def read_staged(spark: SparkSession, fs: ColdFS, run_id: str, day: date) -> dict[str, DataFrame]:
    return {mart: spark.read.parquet(fs.uri(staged_dir(run_id, mart, day))) for mart in MARTS}


def mark_staged(db: Database[Any], day: date, run_id: str, rows: dict[str, int]) -> None:
    """The run's staged marts passed their gates: the date's next publish installs them."""
    db[names.MART_DATES].update_one(
        {"_id": day.isoformat()},
        {"$set": {"state": "staged", "staged_run": run_id, "staged_at": now(), "staged_rows": rows}},
        upsert=True,
    )


def publish(fs: ColdFS, db: Database[Any], day: date, run_id: str) -> bool:
    """Install the staged marts of ``run_id`` as ``day``'s (idempotent: a re-run after a crash finishes
    the renames). False when ``run_id`` is not the date's staged run (a later build superseded it)."""
    doc = db[names.MART_DATES].find_one({"_id": day.isoformat()}) or {}
    if doc.get("staged_run") != run_id or doc.get("state") not in ("staged", "publishing"):
        return doc.get("published_run") == run_id  # published already: done; else superseded
    dates = db[names.MART_DATES]
    dates.update_one({"_id": day.isoformat()}, {"$set": {"state": "publishing"}})
    for mart in MARTS:
        staged, final = staged_dir(run_id, mart, day), final_dir(mart, day)
        if not fs.exists(staged):
            continue  # moved in before a crash
        if fs.exists(final):
            fs.rename(final, f"{TRASH}/{run_id}/{mart}/date={day.isoformat()}")
        fs.rename(staged, final)
        faults.maybe_fail("publish_partial")
    dates.update_one({"_id": day.isoformat()}, {"$set": {
        "state": "published", "published_run": run_id, "published_at": now(), "rows": doc.get("staged_rows")}})
    fs.delete(f"{TRASH}/{run_id}")
    fs.delete(f"{STAGING}/{run_id}")
    return True


def recover(fs: ColdFS, db: Database[Any]) -> list[str]:
    """Roll forward every date left ``publishing`` by a crash; drop staging dirs no date will publish.
    Returns the dates rolled forward."""
    done = []
    for doc in db[names.MART_DATES].find({"state": "publishing"}):
        publish(fs, db, date.fromisoformat(doc["_id"]), doc["staged_run"])
        done.append(doc["_id"])
    pending = {d["staged_run"] for d in db[names.MART_DATES].find({"state": "staged"}, {"staged_run": 1})}
    for run_id in fs.list(STAGING):
        if run_id not in pending:
            fs.delete(f"{STAGING}/{run_id}")
    return done


def published(db: Database[Any]) -> list[dict[str, Any]]:
    """Every date's document, oldest first."""
    return list(db[names.MART_DATES].find({}).sort("_id", 1))
