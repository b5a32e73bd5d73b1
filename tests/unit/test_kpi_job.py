"""The pieces of the KPI job that need no servers: the pushed-down $match, the --until parser, the loop's customers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from paylake.kpi.commands import parse_until
from paylake.kpi.reads import hot_pipeline


def test_hot_pipeline_is_one_ingest_time_match_in_extended_json() -> None:
    assert hot_pipeline(None, None) is None
    after = datetime(2026, 3, 1, 10, 0, 0, 123000, tzinfo=UTC)
    upper = datetime(2026, 3, 1, 10, 1, tzinfo=UTC)
    (stage,) = json.loads(hot_pipeline(after, upper) or "")
    bounds = stage["$match"]["ingest_time"]
    assert bounds["$gt"] == {"$date": {"$numberLong": str(int(after.timestamp() * 1000))}}
    assert bounds["$lte"] == {"$date": {"$numberLong": "1772359260000"}}
    assert set(json.loads(hot_pipeline(None, upper) or "")[0]["$match"]["ingest_time"]) == {"$lte"}


def test_parse_until_takes_naive_as_utc() -> None:
    assert parse_until("2026-03-01T10:00:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert parse_until("2026-03-01T12:00:00+02:00") == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_a_loop_fetches_each_customer_once_and_takes_the_rows_asked_for() -> None:
    from paylake import arrow_rows
    from paylake.kpi.customers import KnownCustomers
    from paylake.kpi.transforms import customer_schema

    def table(*ids: str):  # type: ignore[no-untyped-def]
        return arrow_rows.to_table([{"_id": i, "spend_index": float(i[1:])} for i in ids], customer_schema())

    known = KnownCustomers()
    assert known.missing(["C1", "C2", "C9"]) == ["C1", "C2", "C9"]
    known.add(["C1", "C2", "C9"], table("C1", "C2"))  # C9 is not in the dimension
    assert known.missing(["C2", "C3", "C9"]) == ["C3"]  # C9 is not asked for again
    known.add(["C3"], table("C3"))
    rows = known.take(["C3", "C9", "C1"])
    assert rows["_id"].to_pylist() == ["C3", "C1"] and rows["spend_index"].to_pylist() == [3.0, 1.0]
    assert rows.schema == arrow_rows.arrow_schema(customer_schema())
