"""One archive run: finish or roll back unfinished batches, then move the oldest counted hours to cold.

Per batch (states in the manifest, see manifest.py):
  planned   manifest document created (range, KPI watermark at plan time)
  written   the batch's rows read from MongoDB (its filter, as Arrow) and written as one Parquet file to
            ``_tmp/<id>/date=…`` (parquet_io.py; no Spark: a batch is a copy, not a computation)
  verified  read back: row count and the exact id set equal the source; JSON manifest put beside the data
  published one atomic rename to ``transactions/date=…/batch=<id>``; JSON + MongoDB manifest say so
  deleted   exactly the ids read back from the published files deleted from MongoDB (by id), then checked gone
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import faults, names
from paylake.archive import manifest, parquet_io, size
from paylake.archive.coldfs import ColdFS, open_cold
from paylake.archive.histogram import hot_histogram
from paylake.archive.plan import Batch, docs_to_free, plan_batches
from paylake.errors import ServiceError
from paylake.jobs import ARCHIVE
from paylake.kpi.state import read_watermark
from paylake.lock import Lock, job_lock
from paylake.mongo import open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
DELETE_CHUNK = 20_000  # ids per delete command: FerretDB/SQLite allows 32766 statement variables


class Phases(dict[str, float]):
    """Seconds spent per phase of a run, summed over its batches (read, write, verify, delete, …): the run's
    summary carries them, so where an archive's time goes is in its log, not only in a profiler."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - started, 3)


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
    phases: Phases = field(default_factory=Phases)  # "recover" includes the phases of batches it finished

    def summary(self) -> str:
        return json.dumps(asdict(self), default=str)


def checksum(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode()).hexdigest()


def _delete_archived(db: Database[Any], doc: dict[str, Any], archived: list[str], phases: Phases) -> int:
    """Delete exactly the ``archived`` ids from MongoDB and make sure none is left (idempotent: a re-run
    deletes what is left). When the server deleted as many documents as there are ids, each id was there
    and is gone (``_id`` is unique); otherwise (a re-run after a partial delete) the ids are looked up.

    By id, DELETE_CHUNK ids per command: MongoDB serves ``{_id: {$in: [...]}}`` from the _id index, and
    paylake's FerretDB build (delete-by-id.patch) deletes such a list with one SQL statement on its _id index
    without reading the documents, so a batch costs about what inserting it did. (Deleting by the batch's
    event-time range made FerretDB read and decode every document from the range's start to the end of the
    collection, for each command, plus a find before and after: 54 of 97 s for 93,750 documents.) Transactions
    are never updated, so the hot document of an archived id is the archived one; a document of the batch's
    range that was not archived (inserted after the read) is not in the list and stays hot.
    """
    coll, ids = db[names.TRANSACTIONS], sorted(set(archived))
    chunks = [ids[i : i + DELETE_CHUNK] for i in range(0, len(ids), DELETE_CHUNK)]
    if faults.armed("delete"):  # leave the batch half deleted, then fail
        coll.delete_many({"_id": {"$in": archived[: len(archived) // 2]}})
        faults.maybe_fail("delete")
    deleted = 0
    with phases("delete"):
        for chunk in chunks:
            deleted += coll.delete_many({"_id": {"$in": chunk}}).deleted_count
    left = 0
    if deleted < len(ids):  # else every listed id was there and is gone (_id is unique): nothing left to find
        with phases("delete check"):  # served by the _id index: only documents still there are read
            left = sum(len(list(coll.find({"_id": {"$in": chunk}}, {"_id": 1}))) for chunk in chunks)
    if left:
        raise ArchiveError(f"batch {doc['_id']}: {left} archived transactions still in MongoDB after the delete")
    return deleted


def _roll_forward(
    db: Database[Any],
    cold: ColdFS,
    doc: dict[str, Any],
    verified_ids: list[str] | None = None,
    phases: Phases | None = None,
) -> dict[str, Any]:
    """Take a verified batch through publish → delete → complete; each step is safe to repeat.

    ``verified_ids``: the ids this process just read back from the temporary copy that the rename published;
    without them (recovery in a later run) they are read again from the published files."""
    batch_id, state, phases = str(doc["_id"]), doc["state"], Phases() if phases is None else phases
    paths = manifest.paths(batch_id, doc["date"])
    if state == "verified":
        with phases("publish"):
            if cold.exists(paths.tmp_date):
                if cold.exists(paths.final):  # a rename onto a directory would nest inside it: never guess
                    raise ArchiveError(
                        f"batch {batch_id}: {cold.uri(paths.final)} exists already but is not in the manifest"
                    )
                cold.rename(paths.tmp_date, paths.final)  # the publishing step: one NameNode-atomic rename
            elif not cold.exists(paths.final):
                raise ArchiveError(
                    f"batch {batch_id} is verified but neither {paths.tmp_date} nor {paths.final} exists"
                )
            faults.maybe_fail("rename")
            cold.delete(paths.tmp_root)  # Spark's _SUCCESS marker and the empty directory
            cold.write_json(paths.final_json, manifest.to_json({**doc, "state": "published"}))
            faults.maybe_fail("manifest")
            manifest.advance(db, batch_id, "published")
        state = "published"
    if state == "published":
        # Delete what the cold copy holds (read back from its files), not what was planned.
        archived = verified_ids if verified_ids is not None else parquet_io.read_ids(cold, paths.final)
        if checksum(archived) != doc["checksum"] or len(archived) != doc["rows"]:
            raise ArchiveError(f"batch {batch_id}: published files at {cold.uri(paths.final)} differ from the manifest")
        deleted = _delete_archived(db, doc, archived, phases)
        log.info("batch %s: deleted %d of %d archived transactions from MongoDB", batch_id, deleted, len(archived))
        manifest.advance(db, batch_id, "deleted")
        state = "deleted"
    if state == "deleted":
        with phases("complete"):
            manifest.advance(db, batch_id, "complete")
            final = db[names.ARCHIVE_MANIFEST].find_one({"_id": batch_id}) or doc
            cold.write_json(paths.final_json, manifest.to_json(final))
        return final
    raise ArchiveError(f"batch {batch_id} is in state {state!r}, which cannot be rolled forward")


def recover(db: Database[Any], cold: ColdFS, phases: Phases | None = None) -> list[str]:
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
            _roll_forward(db, cold, doc, phases=phases)
            log.warning("batch %s: completed from state %s", batch_id, doc["state"])
            done.append(f"{batch_id}: completed")
    return done


def _archive_batch(run: _Run, batch: Batch, rows: pa.Table, watermark: datetime) -> dict[str, Any] | None:
    """Move one batch whose ``rows`` (``parquet_io.cold_table`` of its read) are in hand: write, verify,
    publish, delete."""
    if rows.num_rows == 0:  # the range emptied since planning (nothing to move)
        return None
    db, cold, phases = run.db, run.cold, run.result.phases
    doc = manifest.create(db, batch, watermark)
    paths = manifest.paths(batch.batch_id, batch.date)
    source_ids = rows["transaction_id"].to_pylist()
    with phases("write"):
        cold.delete(paths.tmp_root)  # leftovers of a crashed attempt
        parquet_io.write(cold, paths.tmp_date, rows)
    faults.maybe_fail("write")
    manifest.advance(db, batch.batch_id, "written")
    with phases("verify"):
        back = parquet_io.read_ids(cold, paths.tmp_date)
        if len(back) != len(source_ids) or set(back) != set(source_ids):
            raise ArchiveError(
                f"batch {batch.batch_id}: read back {len(back)} rows / {len(set(back))} ids from "
                f"{cold.uri(paths.tmp_date)}, expected {len(source_ids)}; MongoDB is untouched"
            )
        info = {"rows": len(back), "bytes": cold.size(paths.tmp_date), "checksum": checksum(back)}
        cold.write_json(paths.tmp_json, manifest.to_json({**doc, **info, "state": "verified"}))
    faults.maybe_fail("verify")
    manifest.advance(db, batch.batch_id, "verified", **info)
    return _roll_forward(db, cold, {**doc, **info, "state": "verified"}, verified_ids=back, phases=phases)


def run_archive(settings: Settings, max_mb: float | None = None) -> RunResult:
    """Archive until the hot store is under the low-water mark (threshold ``max_mb`` or the setting)."""
    started, result, cold = time.monotonic(), RunResult(), open_cold(settings)
    with open_db(settings) as db, job_lock(db, ARCHIVE) as lock:
        cold.exists("")  # fail fast, naming the URL, when cold storage is down (the DAG retries)
        phases = result.phases
        with phases("recover"):
            result.recovered = recover(db, cold, phases)
        with phases("size"):
            before = size.measure(db, settings, max_mb)
        result.data_mb_before, result.threshold_mb = before.data_mb, before.threshold_mb
        result.low_water_mb = before.low_water_mb
        result.skipped = _move(settings, _Run(db, cold, lock, result), before)
        with phases("size"):
            after = size.measure(db, settings, max_mb) if result.batches else before
        size.record(settings.redis_url, after)  # once per run, after any move (recover may have moved some)
        manifest.publish_recent(db, settings.redis_url)  # every run: heals a restarted (empty) Redis
        result.data_mb_after = after.data_mb
    result.seconds = round(time.monotonic() - started, 2)
    log.info("archive run: %s", result.summary())
    return result


def _read(db: Database[Any], batch: Batch, watermark: datetime) -> pa.Table:
    return parquet_io.cold_table(parquet_io.read_batch(db, batch.start, batch.end, watermark))


@dataclass(frozen=True)
class _Run:
    db: Database[Any]
    cold: ColdFS
    lock: Lock
    result: RunResult


def _move(settings: Settings, run: _Run, before: size.SizeReport) -> str | None:
    """Archive the batches that bring the hot store under its low-water mark; why nothing moved, or None."""
    need = docs_to_free(before.data_bytes, before.docs, before.threshold_mb, before.low_water)
    watermark = read_watermark(run.db)
    if need == 0:
        return f"under the threshold: {before.line()}"
    if watermark is None:
        return "the KPI job has not counted anything yet (no watermark): nothing may move"
    with run.result.phases("histogram"):
        buckets = hot_histogram(run.db, settings.archive_slice_min, watermark)
    slice_len = timedelta(minutes=settings.archive_slice_min)
    batches = plan_batches(buckets, watermark, need, manifest.batch_ids(run.db), slice_len)
    if not batches:
        return f"over the threshold but no hour is fully counted below the watermark {watermark}"
    # Each batch's read runs while the one before it is written, verified and deleted (MongoDB serves reads
    # beside a delete; FerretDB's SQLite too, in WAL mode): "read" is only the time spent waiting for one.
    with ThreadPoolExecutor(1, thread_name_prefix="archive-read") as ahead:
        reading = ahead.submit(_read, run.db, batches[0], watermark)
        for i, batch in enumerate(batches):  # oldest first: a run stopped half way leaves the oldest archived
            with run.result.phases("read"):
                rows = reading.result()
            if i + 1 < len(batches):
                reading = ahead.submit(_read, run.db, batches[i + 1], watermark)
            done = _archive_batch(run, batch, rows, watermark)
            run.lock.renew()
            if done is not None:
                run.result.batches.append(manifest.to_json(done))
    return None
