"""The archive reads the hot store slice by slice and stores each batch as Parquet: a slice's rows must be exactly
the ones MongoDB's batch filter selects (event time in the slice, ingest time at or before the watermark), to
the millisecond at every bound, their values must come back from the file exactly as MongoDB holds them, and
planning must stop before the first slice holding a document the KPI job has not counted."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from archive_support import T0
from factories import make_records

from paylake import names, schema
from paylake.archive import parquet_io, slices
from paylake.archive.coldfs import open_cold

pytestmark = pytest.mark.integration
MS = timedelta(milliseconds=1)
HOUR = timedelta(hours=1)
WATERMARK = T0 + timedelta(hours=5, milliseconds=123)  # milliseconds: a float would round them


def batch_filter(start: datetime, end: datetime) -> dict[str, Any]:
    """MongoDB's own selection of a batch's documents: what the archive must copy, no more, no less."""
    return {"event_time": {"$gte": start, "$lt": end}, "ingest_time": {"$lte": WATERMARK}}


def insert(db: Any, events: list[datetime], ingests: list[datetime | None], prefix: str) -> list[dict[str, Any]]:
    records = make_records(len(events), T0, prefix=prefix)
    for i, record in enumerate(records):
        record["event_time"], record["ingest_time"] = events[i], ingests[i]
        record["amount"] = 10.0 + i + 0.005 * i  # distinct, not round
    docs = [schema.to_mongo(r) for r in records]
    for doc in docs:
        if doc["ingest_time"] is None:
            del doc["ingest_time"]  # written around paylake: never counted, so never archived
    db[names.TRANSACTIONS].insert_many(docs)
    return records


def test_each_slice_is_what_the_batch_filter_selects_and_its_file_holds_the_values(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    # Every slice boundary (whole hours) and the middle, where a slice's read splits between its two cursors,
    # each 1 ms before, at and after, with an ingest time 1 ms before or at the watermark, or none at all.
    edges = [T0 + h * HOUR + d * MS for h in (1, 2, 3) for d in (-1, 0, 1)]
    edges += [T0 + 1.5 * HOUR + d * MS for d in (-1, 0, 1)]
    events = [e for e in edges for _ in range(3)]
    ingests = [WATERMARK - MS, WATERMARK, None] * len(edges)
    insert(mongo_db, events, ingests, "edge")

    read = list(slices.counted_slices(mongo_db, WATERMARK, HOUR))
    assert [start for start, _ in read] == [T0, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR]
    for start, rows in read:
        selected = mongo_db[names.TRANSACTIONS].find(batch_filter(start, start + HOUR), {"_id": 1})
        assert sorted(rows["_id"].to_pylist()) == sorted(d["_id"] for d in selected)

    [(batch, rows)] = list(slices.batches(mongo_db, slices.Request(10**6, WATERMARK, HOUR)))
    assert (batch.start, batch.end, batch.expected_docs) == (T0, T0 + 4 * HOUR, 2 * len(edges))
    cold = open_cold(settings)
    parquet_io.write(cold, "_tmp/read-test/date=x", rows)
    expected = {d["_id"]: schema.from_mongo(d) for d in mongo_db[names.TRANSACTIONS].find(batch_filter(T0, batch.end))}
    assert len(expected) == 2 * len(edges)
    assert sorted(parquet_io.read_ids(cold, "_tmp/read-test")) == sorted(expected)
    assert rows.schema == schema.arrow_schema()
    got = rows.to_pylist()
    assert [r["event_time"] for r in got] == sorted(r["event_time"] for r in got)  # sorted: min/max statistics prune
    assert {r["transaction_id"]: r for r in got} == expected  # every value exact, dates to the millisecond


def test_planning_stops_before_the_first_slice_holding_an_uncounted_document(mongo_db) -> None:  # type: ignore[no-untyped-def]
    events = [T0 + h * HOUR + timedelta(minutes=10) for h in (0, 1, 2, 3)]
    ingests: list[datetime | None] = [WATERMARK, WATERMARK, WATERMARK + MS, WATERMARK]  # hour 2's is not counted
    insert(mongo_db, events, ingests, "late")
    assert [start for start, _ in slices.counted_slices(mongo_db, WATERMARK, HOUR)] == [T0, T0 + HOUR]
    [(batch, rows)] = list(slices.batches(mongo_db, slices.Request(10**6, WATERMARK, HOUR)))
    assert (batch.start, batch.end, rows.num_rows) == (T0, T0 + 2 * HOUR, 2)


def test_slices_are_found_oldest_first_across_gaps_and_only_below_the_watermark(mongo_db) -> None:  # type: ignore[no-untyped-def]
    # Inserted newest first, with a day and a half between them; hour 5 is not closed by the watermark.
    events = [T0 + 5 * HOUR, T0 + 4 * HOUR, T0 - 36 * HOUR, T0 - 36 * HOUR + 59 * timedelta(minutes=1)]
    insert(mongo_db, events, [T0 - 40 * HOUR] * 4, "gap")
    assert slices.oldest_event(mongo_db, None, WATERMARK) == T0 - 36 * HOUR
    assert slices.oldest_event(mongo_db, T0 - 35 * HOUR, WATERMARK) == T0 + 4 * HOUR
    assert slices.oldest_event(mongo_db, T0 + 6 * HOUR, T0 + 9 * HOUR) is None
    read = [(start, rows.num_rows) for start, rows in slices.counted_slices(mongo_db, WATERMARK, HOUR)]
    assert read == [(T0 - 36 * HOUR, 2), (T0 + 4 * HOUR, 1)]
    planned = [b for b, _ in slices.batches(mongo_db, slices.Request(2, WATERMARK, HOUR))]
    assert [(b.start, b.end, b.expected_docs) for b in planned] == [(T0 - 36 * HOUR, T0 - 35 * HOUR, 2)]


def test_a_document_missing_a_required_field_is_refused_by_name(mongo_db) -> None:  # type: ignore[no-untyped-def]
    records = make_records(3, T0 + HOUR, prefix="bad")
    docs = [schema.to_mongo(r) for r in records]
    del docs[1]["merchant_id"]  # written around paylake's ingest checks
    mongo_db[names.TRANSACTIONS].insert_many(docs)
    with pytest.raises(parquet_io.BadRowsError, match="merchant_id.*bad00000001"):
        list(slices.batches(mongo_db, slices.Request(10**6, WATERMARK, HOUR)))
