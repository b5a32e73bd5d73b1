"""The archive reads a batch with MongoDB's own batch filter and stores it as Parquet: the rows must be exactly
the ones the filter selects, to the millisecond at every bound, their values must come back from the file
exactly as MongoDB holds them, and the histogram must count what the store holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from archive_support import T0
from factories import make_records

from paylake import names, schema
from paylake.archive import parquet_io
from paylake.archive.coldfs import open_cold
from paylake.archive.histogram import hot_histogram
from paylake.archive.plan import batch_filter

pytestmark = pytest.mark.integration
MS = timedelta(milliseconds=1)
START, END = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
MID = START + (END - START) / 2  # where the batch's read splits between its two cursors
WATERMARK = T0 + timedelta(hours=5, milliseconds=123)  # milliseconds: a float would round them


def test_a_batch_is_what_the_batch_filter_selects_and_its_file_holds_the_values(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    edges = [START - MS, START, START + MS, MID - MS, MID, MID + MS, END - MS, END, END + MS]
    records = make_records(len(edges) * 3, T0, step=timedelta(minutes=1), prefix="edge")
    for i, record in enumerate(records):  # each event-time edge with an ingest time below, at and above the watermark
        record["event_time"] = edges[i // 3]
        record["ingest_time"] = WATERMARK + (i % 3 - 1) * MS
        record["amount"] = 10.0 + i + 0.005 * i  # distinct, not round
    records[1]["latitude"] = None  # an optional field missing its value stays null in the file
    mongo_db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in records])

    rows = parquet_io.cold_table(parquet_io.read_batch(mongo_db, START, END, WATERMARK))
    cold = open_cold(settings)
    parquet_io.write(cold, "_tmp/read-test/date=x", rows)
    back_ids = parquet_io.read_ids(cold, "_tmp/read-test")

    selected = mongo_db[names.TRANSACTIONS].find(batch_filter(START, END, WATERMARK))
    expected = {d["_id"]: schema.from_mongo(d) for d in selected}
    assert len(expected) == 12  # START, START + 1 ms, MID ± 1 ms, END - 1 ms; ingest at or below the watermark
    assert sorted(back_ids) == sorted(expected)
    assert rows.schema == schema.arrow_schema()
    got = rows.to_pylist()
    assert [r["event_time"] for r in got] == sorted(r["event_time"] for r in got)  # sorted: min/max statistics prune
    assert {r["transaction_id"]: r for r in got} == expected  # every value exact, dates to the millisecond

    buckets = {b.start: b for b in hot_histogram(mongo_db, 60, WATERMARK)}
    assert sum(b.docs for b in buckets.values()) == len(records)
    assert sum(b.uncounted for b in buckets.values()) == len(edges)  # one per edge is 1 ms past the watermark
    assert buckets[START].docs == 9 and buckets[START].uncounted == 3  # START, START + 1 ms, MID - 1 ms


def test_a_document_missing_a_required_field_is_refused_by_name(mongo_db) -> None:  # type: ignore[no-untyped-def]
    records = make_records(3, START, prefix="bad")
    docs = [schema.to_mongo(r) for r in records]
    del docs[1]["merchant_id"]  # written around paylake's ingest checks
    mongo_db[names.TRANSACTIONS].insert_many(docs)

    with pytest.raises(parquet_io.BadRowsError, match="merchant_id.*bad00000001"):
        parquet_io.cold_table(parquet_io.read_batch(mongo_db, START, END, WATERMARK))
