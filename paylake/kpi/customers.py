"""The customers a loop of KPI refreshes has met, kept on its driver and left to the next loop.

The rules and the enrichment need each new row's customer (home location, spend index). The dimension can
hold millions, so a refresh fetches by id only those its rows name that the loop has not met yet. A new loop
(each kpi_refresh run) started with none: its first refresh fetched ~35,000 of 500,000 customers at 2,000
tx/s (8.4 s, beside an archive run, in a soak of 2026-12-02) before Spark could start. The customers a loop
met are now left in a file (handover.py) for the next, valid while the dimensions are as seeded then.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import names
from paylake.kpi import handover

if TYPE_CHECKING:
    import pyarrow as pa


class KnownCustomers:
    """The customers a loop has fetched (Arrow rows of ``transforms.customer_schema``): each is read from
    MongoDB once per loop, like merchants and categories, instead of once per refresh that names it. At 3,000
    tx/s a refresh names ~29,000 customers of 500,000 and a 5-minute loop ~900,000 payments: most are repeats,
    and each fetch costs FerretDB ~40 us of CPU. At most the whole dimension is held (~80 bytes a customer).
    A loop that ends well leaves them to the next (``hand_over``)."""

    def __init__(self) -> None:
        self.table: pa.Table | None = None
        self.row_of: dict[str, int] = {}  # id -> row in ``table``; -1: looked up, not in the dimension

    @property
    def found(self) -> int:
        return self.table.num_rows if self.table is not None else 0

    def missing(self, ids: Iterable[str]) -> list[str]:
        return [i for i in ids if i not in self.row_of]

    def add(self, looked_up: list[str], found: pa.Table) -> None:
        """Record a fetch of ``looked_up``, which found ``found`` (the ids it lacks are not in the dimension);
        ids met meanwhile (a prefetch's fetch overlaps the refresh's own) keep their first row."""
        import pyarrow as pa
        import pyarrow.compute as pc

        new = self.missing(looked_up)
        if len(new) < len(looked_up):
            looked_up, found = new, found.filter(pc.is_in(found["_id"], pa.array(new, pa.string())))
        start = self.table.num_rows if self.table is not None else 0
        self.row_of |= dict.fromkeys(looked_up, -1) | {i: start + n for n, i in enumerate(found["_id"].to_pylist())}
        self.table = found if self.table is None else pa.concat_tables([self.table, found])

    def take(self, ids: Iterable[str]) -> pa.Table:
        """The known rows of ``ids`` (call after fetching their ``missing``; absent customers have none)."""
        import pyarrow as pa

        assert self.table is not None
        return self.table.take(pa.array([r for r in (self.row_of[i] for i in ids) if r >= 0], pa.int64()))

    def hand_over(self, file: Path, version: str | None) -> int:
        """Leave the customers found for the next loop, valid while the dimension is at ``version`` (ids not in
        the dimension are not left: one may be added); returns how many were left."""
        if version is None or self.table is None or not self.found:
            return 0
        handover.write(file, self.table, {"dimensions": version})
        return self.found

    def take_over(self, file: Path, version: str | None) -> int:
        """At a loop's start: hold the customers a previous loop left, if the dimension is still at the
        ``version`` they were read at and their columns are today's; returns how many."""
        left = handover.take(file)
        if left is None or version is None or self.table is not None:
            return 0
        table, condition = left
        if condition.get("dimensions") != version or not table.schema.equals(_schema()):
            return 0
        self.table, self.row_of = table, {i: n for n, i in enumerate(table["_id"].to_pylist())}
        return table.num_rows


def _schema() -> pa.Schema:
    from paylake import arrow_rows
    from paylake.kpi.transforms import customer_schema

    return arrow_rows.arrow_schema(customer_schema())


def dimensions_version(db: Database[Any]) -> str | None:
    """What the dimensions were last seeded or repaired as (``generator.dimensions.reseed`` records it, with
    the time): customers read before another seed or repair may differ from the stored ones. None when no
    seed is recorded (dimensions loaded otherwise): nothing is then handed over."""
    record = db[names.DIMENSIONS_STATE].find_one({"_id": "seeded"})
    return json.dumps(record, sort_keys=True, default=str) if record else None
