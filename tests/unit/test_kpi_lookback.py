"""The lookback rows a KPI loop keeps on the driver and hands to the next loop (paylake/kpi/lookback.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa

from paylake import schema
from paylake.arrow_rows import to_table
from paylake.kpi.lookback import LookbackRows, needed
from paylake.kpi.rules import LOOKBACK_FIELDS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _read(*rows: tuple[str, str | None, int]) -> pa.Table:
    """A refresh's read (the mongo schema): (id, customer, ingest minute after T0)."""
    docs = [{"_id": i, "customer_id": c, "ingest_time": T0 + timedelta(minutes=m), "event_time": T0,
             "amount": 1.0, "latitude": 1.0, "longitude": 2.0} for i, c, m in rows]
    return to_table(docs, schema.spark_schema(mongo=True))


def _ids(table: pa.Table | None) -> list[str]:
    assert table is not None
    return sorted(table["_id"].to_pylist())


def test_it_keeps_the_rules_fields_of_the_lookback_and_finds_a_customers_rows() -> None:
    rows = LookbackRows()
    assert not rows.holding and rows.of_customers(["C1"]) is None
    rows.advance(_read(("a", "C1", 0), ("b", "C2", 1), ("c", None, 2)), T0 + timedelta(minutes=2), 60)
    rows.advance(_read(("d", "C1", 30), ("e", "C3", 31)), T0 + timedelta(minutes=31), 60)
    assert rows.holding and rows.rows == 5
    assert rows.tables[0].column_names == list(LOOKBACK_FIELDS)
    # The customer's rows and the rows of no customer (a partition of their own), nobody else's.
    assert _ids(rows.of_customers(["C1"])) == ["a", "c", "d"]
    assert _ids(rows.of_customers([])) == ["c"]


def test_rows_older_than_the_lookback_are_not_given_and_whole_tables_are_dropped() -> None:
    rows = LookbackRows()
    rows.advance(_read(("a", "C1", 0)), T0, 60)
    rows.advance(_read(("b", "C1", 10), ("c", "C1", 70)), T0 + timedelta(minutes=70), 60)
    # The lookback is (10, 70]: "a" (minute 0) goes with its table; "b" (minute 10) stays in its table
    # beside "c" but is not given.
    assert rows.rows == 2 and rows.bounds == (T0 + timedelta(minutes=10), T0 + timedelta(minutes=70))
    assert _ids(rows.of_customers(["C1"])) == ["c"]


def test_a_loop_takes_over_the_rows_left_at_the_stored_watermark_only(tmp_path: Path) -> None:
    path = tmp_path / "kpi" / "lookback.arrow"
    left = LookbackRows()
    left.advance(_read(("a", "C1", 0), ("b", "C2", 1)), T0 + timedelta(minutes=1), 60)
    left.hand_over(path)
    assert path.exists() and not path.with_suffix(".partial").exists()

    taken = LookbackRows()
    assert taken.take_over(path, T0 + timedelta(minutes=1))
    assert taken.bounds == left.bounds and _ids(taken.of_customers(["C1", "C2"])) == ["a", "b"]
    assert not path.exists(), "taken once: the next loop's watermark is later"

    left.hand_over(path)
    stale = LookbackRows()
    assert not stale.take_over(path, T0 + timedelta(minutes=2)), "another refresh committed since"
    assert not stale.holding and not path.exists()


def test_an_unreadable_file_only_costs_the_read(tmp_path: Path) -> None:
    path = tmp_path / "lookback.arrow"
    path.write_bytes(b"not arrow")
    rows = LookbackRows()
    assert not rows.take_over(path, T0) and not rows.holding and not path.exists()
    assert not rows.take_over(path, T0), "no file"


def _rows(*rows: tuple[str, str | None, float | None]) -> pa.Table:
    """(id, customer, event minute after T0; None: no event time), the mongo schema."""
    docs = [{"_id": i, "customer_id": c, "event_time": None if m is None else T0 + timedelta(minutes=m),
             "ingest_time": T0, "amount": 1.0} for i, c, m in rows]
    return to_table(docs, schema.spark_schema(mongo=True))


def test_only_the_lookback_rows_that_can_change_a_new_rows_flag_go_to_spark() -> None:
    # C1's earliest new row is at minute 30: its window starts at minute 20, on the millisecond.
    new = _rows(("n1", "C1", 30), ("n2", "C1", 45), ("n3", "C2", 5))
    context = _rows(
        ("old", "C1", 2), ("prev-tie-a", "C1", 12), ("prev-tie-b", "C1", 12),  # before the cutoff: only the
        ("edge", "C1", 20), ("in", "C1", 25), ("later", "C1", 50),  # latest (time, then _id) stays
        ("just-out", "C1", 20 - 1 / 60_000),
        ("c2-old", "C2", -30),  # C2's only row before its window: its new row's predecessor
        ("nobody", None, 0), ("no-time", "C1", None),  # kept as they are
    )
    kept = needed(new, context, window_min=10)
    assert _ids(kept) == sorted(["edge", "in", "later", "just-out", "c2-old", "nobody", "no-time"])
    # "just-out" is a millisecond before the window, so it is C1's latest row before it (not prev-tie-b).
    without = needed(new, context.filter(pa.array([i != "just-out" for i in context["_id"].to_pylist()])), 10)
    assert "prev-tie-b" in _ids(without) and "prev-tie-a" not in _ids(without)
    assert needed(new, context.slice(0, 0), 10).num_rows == 0
    assert needed(new.slice(0, 0), context, 10).num_rows == context.num_rows
