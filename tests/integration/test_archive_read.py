"""The archive reads all the batches of a run at once and takes each batch from that read: the rows it takes
must be exactly the ones MongoDB's batch filter selects, to the millisecond at every bound, and the histogram
must count what the store holds."""

from __future__ import annotations

from datetime import timedelta

import pytest
from archive_support import T0
from factories import make_records

from paylake import names, schema
from paylake.archive import spark_io
from paylake.archive.histogram import hot_histogram
from paylake.archive.plan import batch_filter

pytestmark = pytest.mark.integration
MS = timedelta(milliseconds=1)
START, END = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
WATERMARK = T0 + timedelta(hours=5, milliseconds=123)  # milliseconds: a float would round them


def test_batch_rows_are_what_the_batch_filter_selects_in_mongodb(settings, mongo_db, spark) -> None:  # type: ignore[no-untyped-def]
    edges = [START - MS, START, START + MS, END - MS, END, END + MS]
    records = make_records(len(edges) * 3, T0, step=timedelta(minutes=1), prefix="edge")
    for i, record in enumerate(records):  # each event-time edge with an ingest time below, at and above the watermark
        record["event_time"] = edges[i // 3]
        record["ingest_time"] = WATERMARK + (i % 3 - 1) * MS
    mongo_db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in records])

    expected = {d["_id"] for d in mongo_db[names.TRANSACTIONS].find(batch_filter(START, END, WATERMARK), {"_id": 1})}
    wide = spark_io.read_range(spark, settings, START - timedelta(hours=1), END + timedelta(hours=1), WATERMARK)
    taken = set(spark_io.ids(spark_io.batch_rows(wide, START, END, WATERMARK), "_id"))

    assert len(expected) == 6  # START, START + 1 ms, END - 1 ms; ingest at or below the watermark
    assert taken == expected

    buckets = {b.start: b for b in hot_histogram(mongo_db, 60, WATERMARK)}
    assert sum(b.docs for b in buckets.values()) == len(records)
    assert sum(b.uncounted for b in buckets.values()) == len(edges)  # one per edge is 1 ms past the watermark
    assert buckets[START].docs == 6 and buckets[START].uncounted == 2  # START and START + 1 ms
