"""Read the hot store slice by slice, oldest first, and group the slices into batches as they come (plan.py).

A slice is read only when it is closed by the KPI watermark, and its rows are the batch filter's: event time
in the slice, ingest time at or before the watermark (counted by the KPI job). A slice holding a document
the KPI job has not counted yet (ingest time after the watermark) stops the plan before it, so what is
archived is always the oldest and always counted. A document without a date ingest time is never taken: it
stays hot, as MongoDB's filter ``{ingest_time: {$lte: watermark}}`` would leave it.

Slices are read one after the other (a slice's read is one event-time range read, served by the ``event_time``
index); only the first slice and the one after an empty slice (a gap) are found with a probe: ``find_one`` of
an event-time range, asked again below what it found until nothing older is left, so the answer does not depend
on the order a server returns documents in. A probe is not always cheap: for a wide range SQLite (on
paylake's FerretDB) rightly plans a scan, as it would to return all of it, and the first match then comes after
every older document still hot, i.e. the run's batches not yet deleted. Probing for each slice made the
archive bench's 48 slices cost FerretDB ~6 CPU-s of ~17 (2026-12-02, pprof).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import names
from paylake.archive import parquet_io, plan
from paylake.archive.plan import Batch

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass(frozen=True)
class Request:
    need_docs: int  # plan.docs_to_free: the batches stop once they hold this many
    watermark: datetime  # the KPI watermark at plan time
    slice_len: timedelta
    taken_ids: Collection[str] = ()  # batch ids in the manifest already


def oldest_event(db: Database[Any], after: datetime | None, before: datetime) -> datetime | None:
    """The oldest event time of a hot transaction in [after, before) (``after`` None: no lower bound)."""
    found = None
    while True:
        where: dict[str, Any] = {"$lt": before if found is None else found}
        if after is not None:
            where["$gte"] = after
        doc = db[names.TRANSACTIONS].find_one({"event_time": where}, {"_id": 0, "event_time": 1})
        if doc is None:
            return found
        found = doc["event_time"]


def counted_slices(db: Database[Any], watermark: datetime, slice_len: timedelta) -> Iterator[tuple[datetime, pa.Table]]:
    """Each closed slice holding documents, oldest first, with its counted rows (``read_events``'s columns),
    up to the first slice holding an uncounted document."""
    import pyarrow.compute as pc

    end = plan.eligible_end(watermark, slice_len)
    start: datetime | None = _first_slice(db, None, end, slice_len)
    while start is not None:
        rows = parquet_io.read_events(db, start, start + slice_len)
        if rows.num_rows == 0:  # a gap: probe for the next slice holding documents
            start = _first_slice(db, start + slice_len, end, slice_len)
            continue
        ingest = rows["ingest_time"]
        if pc.any(pc.greater(ingest, watermark)).as_py():
            return
        yield start, rows.filter(pc.less_equal(ingest, watermark))  # a null ingest time is dropped
        start = start + slice_len if start + slice_len < end else None


def _first_slice(db: Database[Any], after: datetime | None, end: datetime, slice_len: timedelta) -> datetime | None:
    """The start of the slice holding the oldest event in [after, end), or None when there is none."""
    event = oldest_event(db, after, end)
    return None if event is None else plan.slice_start(event, slice_len)


def batches(db: Database[Any], request: Request) -> Iterator[tuple[Batch, pa.Table]]:
    """The batches that free ``request.need_docs`` documents (or every eligible one), each with its rows as the
    archive stores them (``parquet_io.cold_table``), oldest first; each is read only when the one before it
    has been taken, so a run holds about two batches in memory."""
    batcher = plan.Batcher(request.need_docs, request.slice_len, request.taken_ids)
    held: list[tuple[datetime, pa.Table]] = []  # the open batch's slices
    if batcher.done:
        return
    for start, rows in counted_slices(db, request.watermark, request.slice_len):
        if rows.num_rows == 0:
            continue
        held.append((start, rows))
        for batch in batcher.add(start, rows.num_rows):
            yield batch, _rows_of(batch, held)
        if batcher.done:
            return
    for batch in batcher.close():
        yield batch, _rows_of(batch, held)


def _rows_of(batch: Batch, held: list[tuple[datetime, pa.Table]]) -> pa.Table:
    """The rows of ``batch``'s slices, taken out of ``held`` (which keeps the slices after it)."""
    import pyarrow as pa

    mine = [rows for start, rows in held if start < batch.end]
    held[:] = [(start, rows) for start, rows in held if start >= batch.end]
    return parquet_io.cold_table(pa.concat_tables(mine))
