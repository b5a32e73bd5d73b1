"""One archive run: finish or roll back unfinished batches, then move the oldest counted hours to cold.

Per batch (states in the manifest, see manifest.py):
  planned   manifest document created (range, KPI watermark at plan time)
  written   Spark wrote Parquet to ``_tmp/<id>/date=…`` (the source is persisted: one read of MongoDB)
  verified  read back: row count and the exact id set equal the source; JSON manifest put beside the data
  published one atomic rename to ``transactions/date=…/batch=<id>``; JSON + MongoDB manifest say so
  deleted   exactly the ids read back from the published files deleted from MongoDB, then checked gone
  complete  manifest closed, JSON rewritten, pushed to the dashboard list in Redis
Recovery, first thing under the lock: a batch before ``verified`` is rolled back (temporary files
removed; MongoDB was never touched); from ``verified`` on it is rolled forward to ``complete``.
So at every instant each transaction is in MongoDB, or in a published batch, or both — never neither —
and "both" exists only for published-but-not-complete batches, which ``query`` deduplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import MongoClient
from pymongo.database import Database

from paylake import faults, names
from paylake.archive import manifest, size, spark_io
from paylake.archive.coldfs import ColdFS, open_cold
from paylake.archive.plan import Batch, batch_filter, delete_ranges, docs_to_free, plan_batches
from paylake.errors import ServiceError
from paylake.jobs import ARCHIVE
from paylake.kpi.state import read_watermark
from paylake.lock import job_lock
from paylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
DELETE_CHUNK = 20_000  # documents per delete command: FerretDB/SQLite allows 32766 statement variables


class ArchiveError(ServiceError):
    """The archive found a state it must not act on by itself (the message says what to inspect)."""


@dataclass
class RunResult:
    data_mb_before: float = 0.0
    data_mb_after: float | None = None
    threshold_mb: float = 0.0
    low_water_mb: float = 0.0
    recovered: list[str] = field(default_factory=list)  # "<batch id>: rolled back | completed"
    batches: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    def summary(self) -> str:
        return json.dumps(asdict(self), default=str)


def checksum(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _batch_filter(doc: dict[str, Any]) -> dict[str, Any]:
    """The documents the batch was read with (``plan.batch_filter`` of its manifest entry)."""
    return batch_filter(doc["range_start"], doc["range_end"], doc["watermark"])


def _delete_archived(db: Database[Any], doc: dict[str, Any], archived: list[str]) -> int:
    """Delete exactly the ``archived`` ids from MongoDB (idempotent: a re-run deletes what is left).

    FerretDB matches ``$in`` in a per-document loop (10k ids over 20k docs: ~6 s) but a range filter is
    cheap, so: read the ids the batch filter matches now; when they are all archived (always, unless a
    document stamped at or before the watermark was inserted after the KPI job passed it — which its own
    exactly-once rules out), delete by the filter, in event-time sub-ranges of at most DELETE_CHUNK
    documents (FerretDB's SQLite statement limit); otherwise delete only the archived ones by id.
    """
    coll, wanted = db[names.TRANSACTIONS], set(archived)
    if faults.armed("delete"):  # leave the batch half deleted, then fail
        coll.delete_many({"_id": {"$in": archived[: len(archived) // 2]}})
        faults.maybe_fail("delete")
    matching = {d["_id"]: d["event_time"] for d in coll.find(_batch_filter(doc), {"event_time": 1})}
    deleted = 0
    if matching.keys() <= wanted:
        for low, high in delete_ranges(list(matching.values()), doc["range_start"], doc["range_end"], DELETE_CHUNK):
            part = {**_batch_filter(doc), "event_time": {"$gte": low, "$lt": high}}
            deleted += coll.delete_many(part).deleted_count
    else:
        log.warning(
            "batch %s: %d unarchived documents in its range stay hot", doc["_id"], len(matching.keys() - wanted)
        )
        ids = sorted(matching.keys() & wanted)
        for i in range(0, len(ids), DELETE_CHUNK):
            deleted += coll.delete_many({"_id": {"$in": ids[i : i + DELETE_CHUNK]}}).deleted_count
    left = {d["_id"] for d in coll.find(_batch_filter(doc), {"_id": 1})} & wanted
    if left:
        raise ArchiveError(f"batch {doc['_id']}: {len(left)} archived transactions still in MongoDB after the delete")
    return deleted


def _roll_forward(
    spark: SparkSession, db: Database[Any], cold: ColdFS, doc: dict[str, Any], verified_ids: list[str] | None = None
) -> dict[str, Any]:
    """Take a verified batch through publish → delete → complete; each step is safe to repeat.

    ``verified_ids``: the ids this process just read back from the temporary copy that the rename published;
    without them (recovery in a later run) they are read again from the published files."""
    batch_id, state = str(doc["_id"]), doc["state"]
    paths = manifest.paths(batch_id, doc["date"])
    if state == "verified":
        if cold.exists(paths.tmp_date):
            if cold.exists(paths.final):  # a rename onto a directory would nest inside it: never guess
                raise ArchiveError(
                    f"batch {batch_id}: {cold.uri(paths.final)} exists already but is not in the manifest"
                )
            cold.rename(paths.tmp_date, paths.final)  # the publishing step: one NameNode-atomic rename
        elif not cold.exists(paths.final):
            raise ArchiveError(f"batch {batch_id} is verified but neither {paths.tmp_date} nor {paths.final} exists")
        faults.maybe_fail("rename")
        cold.delete(paths.tmp_root)  # Spark's _SUCCESS marker and the empty directory
        cold.write_json(paths.final_json, manifest.to_json({**doc, "state": "published"}))
        faults.maybe_fail("manifest")
        manifest.advance(db, batch_id, "published")
        state = "published"
    if state == "published":
        # Delete what the cold copy holds (read back from its files), not what was planned.
        archived = verified_ids if verified_ids is not None else spark_io.read_ids(spark, cold.uri(paths.final))
        if checksum(archived) != doc["checksum"] or len(archived) != doc["rows"]:
            raise ArchiveError(f"batch {batch_id}: published files at {cold.uri(paths.final)} differ from the manifest")
        deleted = _delete_archived(db, doc, archived)
        log.info("batch %s: deleted %d of %d archived transactions from MongoDB", batch_id, deleted, len(archived))
        manifest.advance(db, batch_id, "deleted")
        state = "deleted"
    if state == "deleted":
        manifest.advance(db, batch_id, "complete")
        final = db[names.ARCHIVE_MANIFEST].find_one({"_id": batch_id}) or doc
        cold.write_json(paths.final_json, manifest.to_json(final))
        return final
    raise ArchiveError(f"batch {batch_id} is in state {state!r}, which cannot be rolled forward")


def recover(spark: SparkSession, db: Database[Any], cold: ColdFS) -> list[str]:
    """Finish or roll back every batch a previous run left unfinished (called under the lock)."""
    done = []
    for doc in manifest.unfinished(db):
        batch_id, paths = str(doc["_id"]), manifest.paths(str(doc["_id"]), doc["date"])
        verified_gone = doc["state"] == "verified" and not cold.exists(paths.tmp_date) and not cold.exists(paths.final)
        if doc["state"] in ("planned", "written") or verified_gone:
            # MongoDB was not touched before "published": dropping the temporary copy loses nothing.
            cold.delete(paths.tmp_root)
            manifest.forget(db, batch_id)
            log.warning("batch %s: rolled back from state %s", batch_id, doc["state"])
            done.append(f"{batch_id}: rolled back")
        else:
            _roll_forward(spark, db, cold, doc)
            log.warning("batch %s: completed from state %s", batch_id, doc["state"])
            done.append(f"{batch_id}: completed")
    return done


def archive_batch(
    spark: SparkSession, settings: Settings, db: Database[Any], cold: ColdFS, batch: Batch, watermark: datetime
) -> dict[str, Any] | None:
    doc = manifest.create(db, batch, watermark)
    paths = manifest.paths(batch.batch_id, batch.date)
    source = spark_io.read_batch(spark, settings, batch.start, batch.end, watermark).persist()
    try:
        source_ids = spark_io.ids(source, "_id")
        if not source_ids:  # the range emptied since planning (nothing to move)
            manifest.forget(db, batch.batch_id)
            return None
        cold.delete(paths.tmp_root)  # leftovers of a crashed attempt
        spark_io.write_parquet(source, cold.uri(paths.tmp_root))
        faults.maybe_fail("write")
        manifest.advance(db, batch.batch_id, "written")
    finally:
        source.unpersist()
    back = spark_io.read_ids(spark, cold.uri(paths.tmp_date))
    if len(back) != len(source_ids) or set(back) != set(source_ids):
        raise ArchiveError(
            f"batch {batch.batch_id}: read back {len(back)} rows / {len(set(back))} ids from "
            f"{cold.uri(paths.tmp_date)}, expected {len(source_ids)}; MongoDB is untouched"
        )
    info = {"rows": len(back), "bytes": cold.size(paths.tmp_date), "checksum": checksum(back)}
    cold.write_json(paths.tmp_json, manifest.to_json({**doc, **info, "state": "verified"}))
    faults.maybe_fail("verify")
    manifest.advance(db, batch.batch_id, "verified", **info)
    return _roll_forward(spark, db, cold, {**doc, **info, "state": "verified"}, verified_ids=back)


def run_archive(spark: SparkSession, settings: Settings, max_mb: float | None = None) -> RunResult:
    """Archive until the hot store is under the low-water mark (threshold ``max_mb`` or the setting)."""
    started = time.monotonic()
    client: MongoClient[Any] = MongoClient(settings.mongo_uri, tz_aware=True)
    db, cold, result = client[settings.mongo_db], open_cold(settings), RunResult()
    try:
        with job_lock(db, ARCHIVE) as lock:
            cold.exists("")  # fail fast, naming the URL, when cold storage is down (the DAG retries)
            result.recovered = recover(spark, db, cold)
            before = size.measure(db, settings, max_mb)
            result.data_mb_before, result.threshold_mb = before.data_mb, before.threshold_mb
            result.low_water_mb = before.low_water_mb
            need = docs_to_free(before.data_bytes, before.docs, before.threshold_mb, before.low_water)
            watermark = read_watermark(db)
            if need == 0:
                result.skipped = f"under the threshold: {before.line()}"
            elif watermark is None:
                result.skipped = "the KPI job has not counted anything yet (no watermark): nothing may move"
            else:
                buckets = spark_io.histogram(spark, settings, watermark)
                slice_len = timedelta(minutes=settings.archive_slice_min)
                batches = plan_batches(buckets, watermark, need, manifest.batch_ids(db), slice_len)
                if not batches:
                    result.skipped = f"over the threshold but no hour is fully counted below the watermark {watermark}"
                for batch in batches:
                    done = archive_batch(spark, settings, db, cold, batch, watermark)
                    lock.renew()
                    if done is not None:
                        result.batches.append(manifest.to_json(done))
            after = size.measure(db, settings, max_mb) if result.batches else before
            size.record(settings.redis_url, after)  # once per run, after any move (recover may have moved some)
            manifest.publish_recent(db, settings.redis_url)  # every run: heals a restarted (empty) Redis
            result.data_mb_after = after.data_mb
    finally:
        client.close()
    result.seconds = round(time.monotonic() - started, 2)
    log.info("archive run: %s", result.summary())
    return result

