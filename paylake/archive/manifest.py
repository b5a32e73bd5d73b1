"""The archive manifest: one MongoDB document per batch (``archive_manifest``) plus a JSON copy beside the
batch's Parquet files, and the dashboard's list of recent batches in Redis.

States, in order: planned → written → verified → published → deleted → complete. The MongoDB document is
the authority a run resumes from; the JSON file travels with the data (it is written into the temporary
directory before the publishing rename), so the cold side describes itself even without MongoDB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from paylake import names
from paylake.archive.plan import Batch
from paylake.clock import now

STATES = ("planned", "written", "verified", "published", "deleted", "complete")
DATA_DIR = "transactions"  # published data: transactions/date=YYYY-MM-DD/batch=<id>/part-*.parquet
TMP_DIR = "_tmp"  # Spark writes here first: _tmp/<id>/date=YYYY-MM-DD/…
JSON_NAME = "_manifest.json"  # leading underscore: Spark, pyarrow and DuckDB globs skip it


@dataclass(frozen=True)
class Paths:
    tmp_root: str  # what Spark writes to
    tmp_date: str  # the directory that is renamed
    final: str

    @property
    def tmp_json(self) -> str:
        return f"{self.tmp_date}/{JSON_NAME}"

    @property
    def final_json(self) -> str:
        return f"{self.final}/{JSON_NAME}"


def paths(batch_id: str, date: str) -> Paths:
    tmp_root = f"{TMP_DIR}/{batch_id}"
    return Paths(tmp_root, f"{tmp_root}/date={date}", f"{DATA_DIR}/date={date}/batch={batch_id}")


def create(db: Database[Any], batch: Batch, watermark: datetime) -> dict[str, Any]:
    doc = {
        "_id": batch.batch_id,
        "range_start": batch.start,
        "range_end": batch.end,
        "date": batch.date,
        "watermark": watermark,
        "expected_docs": batch.expected_docs,
        "state": "planned",
        "rows": None,
        "bytes": None,
        "checksum": None,
        "times": {"planned": now()},
    }
    db[names.ARCHIVE_MANIFEST].insert_one(doc)
    return doc


def advance(db: Database[Any], batch_id: str, state: str, **fields: Any) -> None:
    if state not in STATES:
        raise ValueError(f"unknown manifest state {state!r}")
    update = {"state": state, f"times.{state}": now(), **fields}
    db[names.ARCHIVE_MANIFEST].update_one({"_id": batch_id}, {"$set": update})


def unfinished(db: Database[Any]) -> list[dict[str, Any]]:
    return list(db[names.ARCHIVE_MANIFEST].find({"state": {"$ne": "complete"}}).sort("_id", 1))


def all_batches(db: Database[Any]) -> list[dict[str, Any]]:
    return list(db[names.ARCHIVE_MANIFEST].find({}).sort("_id", 1))


def complete_ids(db: Database[Any]) -> set[str]:
    """Batches whose hot copies are gone: their cold rows are the only ones (queries dedupe the others)."""
    return {str(d["_id"]) for d in db[names.ARCHIVE_MANIFEST].find({"state": "complete"}, {"_id": 1})}


def batch_ids(db: Database[Any]) -> set[str]:
    return {str(d["_id"]) for d in db[names.ARCHIVE_MANIFEST].find({}, {"_id": 1})}


def forget(db: Database[Any], batch_id: str) -> None:
    db[names.ARCHIVE_MANIFEST].delete_one({"_id": batch_id})


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, dict):
        return {k: _iso(v) for k, v in value.items()}
    return value


def to_json(doc: dict[str, Any]) -> dict[str, Any]:
    """The manifest document as plain JSON (ISO times), for the file beside the data and for Redis."""
    out = {("batch_id" if k == "_id" else k): _iso(v) for k, v in doc.items()}
    return out


def _recent_entry(doc: dict[str, Any]) -> str:
    data = to_json(doc)
    entry = {k: data.get(k) for k in ("batch_id", "range_start", "range_end", "rows", "bytes", "state")}
    entry["completed_at"] = data.get("times", {}).get("complete")
    return json.dumps(entry)


def publish_recent(db: Database[Any], redis_url: str) -> None:
    """The newest complete batches, newest first, for the dashboard. Rebuilt from the manifest (batch ids sort
    by time) rather than appended to, so a Redis restart, which keeps nothing, is healed by the next run;
    a Redis outage only logs: the archive itself is done."""
    from paylake.cache import side_feed

    newest = db[names.ARCHIVE_MANIFEST].find({"state": "complete"}).sort("_id", -1).limit(names.ARCHIVE_RECENT_MAX)
    entries = [_recent_entry(doc) for doc in newest]
    with side_feed(redis_url, "publish the recent archive batches") as client:
        pipe = client.pipeline(transaction=True)
        pipe.delete(names.ARCHIVE_RECENT)
        if entries:
            pipe.rpush(names.ARCHIVE_RECENT, *entries)
        pipe.execute()
