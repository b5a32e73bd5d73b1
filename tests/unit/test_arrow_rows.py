"""Documents → Arrow (paylake/arrow_rows.py): the values the MongoDB connector reads (a missing field or a
value of another type is null, an integer in a double field a float), and the same rows in Spark as a frame
built from Python values (timestamps as UTC instants to the millisecond)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from bson import Int64, ObjectId

from paylake import arrow_rows, schema
from paylake.kpi.transforms import customer_schema

AT = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)


def test_values_are_the_connectors() -> None:
    docs = [
        {"_id": "C0000001", "home_city": "Lyon", "segment": ObjectId(), "home_latitude": 45,
         "home_longitude": True, "typical_amount": 40.5, "spend_index": Int64(2), "extra": 1},
        {"_id": 7, "home_city": None, "home_latitude": "45.0", "typical_amount": False},
        {},
    ]
    table = arrow_rows.to_table(docs, customer_schema())
    assert table.column_names == [f.name for f in customer_schema().fields]
    nothing = dict.fromkeys(table.column_names)
    assert table.to_pylist() == [
        nothing | {"_id": "C0000001", "home_city": "Lyon", "home_latitude": 45.0, "typical_amount": 40.5,
                   "spend_index": 2.0},
        nothing,
        nothing,
    ]
    assert isinstance(table.to_pylist()[0]["home_latitude"], float)


def test_booleans_timestamps_and_longs_take_only_their_own_type() -> None:
    from pyspark.sql import types as T

    fields = T.StructType([T.StructField("flag", T.BooleanType()), T.StructField("at", T.TimestampType()),
                           T.StructField("n", T.LongType())])
    paris = timezone(timedelta(hours=1))
    docs = [{"flag": True, "at": AT, "n": Int64(5)}, {"flag": 1, "at": "2026-03-01", "n": 5.0},
            {"flag": False, "at": AT.astimezone(paris), "n": True}]
    assert arrow_rows.to_table(docs, fields).to_pylist() == [
        {"flag": True, "at": AT, "n": 5}, {"flag": None, "at": None, "n": None}, {"flag": False, "at": AT, "n": None}]


def test_batches_keep_every_document_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(arrow_rows, "BATCH", 3)
    docs = ({"_id": f"C{i:07d}", "spend_index": i} for i in range(10))  # a cursor is an iterator too
    table = arrow_rows.to_table(docs, customer_schema())
    assert table["_id"].to_pylist() == [f"C{i:07d}" for i in range(10)]
    assert table["spend_index"].to_pylist() == [float(i) for i in range(10)]


def test_spark_reads_the_table_as_the_rows_it_holds(spark) -> None:  # type: ignore[no-untyped-def]
    """The transaction schema through Arrow and through Python rows: the same rows (event times to the ms)."""
    fields = schema.spark_schema(mongo=True, nullable=True)  # as the job reads them (kpi.reads.hot_rows)
    docs = [{"_id": f"T{i}", "event_time": AT + timedelta(milliseconds=i), "ingest_time": AT + timedelta(seconds=i),
             "customer_id": f"C{i}", "amount": 10 + i, "is_fraud": i % 2 == 0, "latitude": None} for i in range(3)]
    docs.append({"_id": "T9", "event_time": AT, "ingest_time": AT, "amount": "12"})  # no customer; amount null
    from pyspark.sql import functions as F

    frame = spark.createDataFrame(arrow_rows.to_table(docs, fields), fields)
    rows = [tuple(r[f.name] for f in fields.fields) for r in arrow_rows.to_table(docs, fields).to_pylist()]
    assert frame.collect() == spark.createDataFrame(rows, fields).collect()
    millis = [r[0] for r in frame.select(F.unix_millis("event_time")).collect()]
    at_ms = (AT - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    assert millis == [at_ms, at_ms + 1, at_ms + 2, at_ms]
    assert [r["amount"] for r in frame.collect()] == [10.0, 11.0, 12.0, None]
