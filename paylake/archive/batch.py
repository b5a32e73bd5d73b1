"""One archive batch's steps, each safe to repeat: write and verify, publish, delete and complete.

job.py runs them in order for each batch of a run (and a batch's delete beside the next batch's write);
``roll_forward`` finishes a batch a crashed run left verified or published.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import faults, names
from paylake.archive import manifest, parquet_io
from paylake.archive.coldfs import ColdFS
from paylake.archive.plan import Batch
from paylake.errors import ServiceError

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)
# Ids per delete command. Each command holds the server's one write lock (FerretDB on SQLite) for its whole
# length, and the generator's and the KPI loop's writes wait for it: 10,000 (~0.6 s under a soak's load)
# halves that wait against 20,000. The archive bench moved as many documents per second with 5,000, 10,000
# or 20,000 (two runs each, 2026-12-02, within its run-to-run spread).
DELETE_CHUNK = 10_000


class Phases(dict[str, float]):
    """Seconds spent per phase of a run, summed over its batches (read, write, verify, delete, …; a batch's
    delete runs beside the next batch's write, so they add up to more than the run took): the run's summary
    carries them, so where an archive's time goes is in its log, not only in a profiler."""

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self[name] = round(self.get(name, 0.0) + time.perf_counter() - started, 3)


class ArchiveError(ServiceError):
    """The archive found a state it must not act on by itself (the message says what to inspect)."""


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
    # In the order the copy holds them (event time, about the order they were inserted in), not sorted by id:
    # a command's rows then share table and date-index pages instead of being spread over the whole batch.
    coll, ids = db[names.TRANSACTIONS], list(dict.fromkeys(archived))
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


def publish(db: Database[Any], cold: ColdFS, doc: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """verified → published: one NameNode-atomic rename of the temporary copy (or it happened already)."""
    batch_id = str(doc["_id"])
    paths = manifest.paths(batch_id, doc["date"])
    with phases("publish"):
        if cold.exists(paths.tmp_date):
            if cold.exists(paths.final):  # a rename onto a directory would nest inside it: never guess
                raise ArchiveError(
                    f"batch {batch_id}: {cold.uri(paths.final)} exists already but is not in the manifest"
                )
            cold.rename(paths.tmp_date, paths.final)  # the publishing step
        elif not cold.exists(paths.final):
            raise ArchiveError(f"batch {batch_id} is verified but neither {paths.tmp_date} nor {paths.final} exists")
        faults.maybe_fail("rename")
        cold.delete(paths.tmp_root)  # the empty temporary directory
        cold.write_json(paths.final_json, manifest.to_json({**doc, "state": "published"}))
        faults.maybe_fail("manifest")
        manifest.advance(db, batch_id, "published")
    return {**doc, "state": "published"}


def finish(
    db: Database[Any], cold: ColdFS, doc: dict[str, Any], verified_ids: list[str] | None, phases: Phases
) -> dict[str, Any]:
    """published → deleted → complete. ``verified_ids``: the ids this process just read back from the copy
    that was published; without them (recovery in a later run) they are read again from the published files."""
    batch_id, state = str(doc["_id"]), doc["state"]
    paths = manifest.paths(batch_id, doc["date"])
    if state == "published":
        # Delete what the cold copy holds (read back from its files), not what was planned.
        archived = verified_ids if verified_ids is not None else parquet_io.read_ids(cold, paths.final)
        if checksum(archived) != doc["checksum"] or len(archived) != doc["rows"]:
            raise ArchiveError(f"batch {batch_id}: published files at {cold.uri(paths.final)} differ from the manifest")
        deleted = _delete_archived(db, doc, archived, phases)
        log.info("batch %s: deleted %d of %d archived transactions from MongoDB", batch_id, deleted, len(archived))
        manifest.advance(db, batch_id, "deleted")
        state = "deleted"
    if state != "deleted":
        raise ArchiveError(f"batch {batch_id} is in state {state!r}, which cannot be rolled forward")
    with phases("complete"):
        manifest.advance(db, batch_id, "complete")
        final = db[names.ARCHIVE_MANIFEST].find_one({"_id": batch_id}) or doc
        cold.write_json(paths.final_json, manifest.to_json(final))
    return final


def roll_forward(db: Database[Any], cold: ColdFS, doc: dict[str, Any], phases: Phases) -> dict[str, Any]:
    """Take a batch a crashed run left verified, published or deleted to complete."""
    if doc["state"] == "verified":
        doc = publish(db, cold, doc, phases)
    return finish(db, cold, doc, None, phases)


def write_verified(
    db: Database[Any], cold: ColdFS, batch: Batch, rows: pa.Table, watermark: datetime, phases: Phases
) -> tuple[dict[str, Any], list[str]] | None:
    """planned → written → verified for a batch whose ``rows`` (``parquet_io.cold_table`` of its read) are in
    hand; returns its manifest document and the ids read back, or None when the range emptied since planning."""
    if rows.num_rows == 0:
        return None
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
    return {**doc, **info, "state": "verified"}, back
