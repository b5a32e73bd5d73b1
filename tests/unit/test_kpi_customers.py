"""A loop leaves the customers it met to the next loop, only for the dimensions as they were then."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from paylake import arrow_rows
from paylake.kpi.customers import KnownCustomers
from paylake.kpi.transforms import customer_schema


def _table(*ids: str) -> pa.Table:
    return arrow_rows.to_table([{"_id": i, "spend_index": float(i[1:])} for i in ids], customer_schema())


def _met(*found: str, absent: tuple[str, ...] = ()) -> KnownCustomers:
    known = KnownCustomers()
    known.add([*found, *absent], _table(*found))
    return known


def test_the_next_loop_takes_the_customers_found_and_looks_up_the_absent_again(tmp_path: Path) -> None:
    file = tmp_path / "kpi" / "customers.arrow"
    _met("C1", "C2", absent=("C9",)).hand_over(file, "v1")
    nxt = KnownCustomers()
    assert nxt.take_over(file, "v1") == 2 and not file.exists(), "taken once"
    assert nxt.missing(["C1", "C2", "C9"]) == ["C9"], "an id not in the dimension then may be added since"
    nxt.add(["C3"], _table("C3"))
    rows = nxt.take(["C3", "C1"])
    assert rows["_id"].to_pylist() == ["C3", "C1"] and rows["spend_index"].to_pylist() == [3.0, 1.0]


def test_customers_are_not_taken_after_a_reseed_or_with_other_columns(tmp_path: Path) -> None:
    file = tmp_path / "customers.arrow"
    _met("C1").hand_over(file, "v1")
    stale = KnownCustomers()
    assert stale.take_over(file, "v2") == 0 and stale.found == 0 and not file.exists(), "the dimensions changed"
    _met("C1").hand_over(file, "v1")
    assert KnownCustomers().take_over(file, None) == 0, "no seed recorded now"
    other = pa.table({"_id": ["C1"], "spend_index": ["high"]})  # a file of an older release's columns
    known = _met("C1")
    known.table = other
    known.hand_over(file, "v1")
    assert KnownCustomers().take_over(file, "v1") == 0
    file.write_bytes(b"not arrow")
    assert KnownCustomers().take_over(file, "v1") == 0 and not file.exists(), "unreadable: read MongoDB instead"


def test_nothing_is_left_without_a_recorded_seed_or_found_customers(tmp_path: Path) -> None:
    file = tmp_path / "customers.arrow"
    _met("C1").hand_over(file, None)
    _met(absent=("C9",)).hand_over(file, "v1")
    assert not file.exists()
