"""The rules' lookback rows a loop of refreshes keeps on the driver, as Arrow, and hands to the next loop.

The rules look back ``lookback_min`` (60) minutes of ingest time before the watermark for each new row's
customer (``rules.flag``: the velocity window, the previous transaction). Re-reading those rows from MongoDB
at every refresh would cost more than the new rows, so a loop keeps them. It kept them on the Spark server
until 2026-12-02, as checkpoints that every refresh scanned whole; at 2,000 tx/s a 5-minute loop held a
million rows there, and each new loop (one per kpi_refresh run) began by reading the whole hot store from
MongoDB again: its first refresh took 132 s in the soak (README, "Scale"). Now:

* the rows are kept on the driver projected to ``rules.LOOKBACK_FIELDS`` (~70 bytes a row: 60 minutes at
  3,000 tx/s is ~750 MB), one Arrow table per refresh, dropped once wholly older than the lookback;
* a refresh hands Spark only the kept rows of its new rows' customers (``of_customers``: a vectorised hash
  lookup, ~0.07 s per million rows kept), together with its new rows, as one Arrow relation;
* a loop that ends well writes them to a file (``hand_over``, handover.py) that the next loop takes
  (``take_over``) if it is for the watermark stored then: a new loop reads only its new rows, like any other
  refresh.

The rows only give the rules their context; counts never depend on them. A file is used only for the exact
watermark it was written at (any other refresh moves the watermark), so it is never stale; a missing,
partial or unreadable file only costs the MongoDB read that it saves.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from paylake.kpi import handover
from paylake.kpi.rules import LOOKBACK_FIELDS

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


def theirs(table: pa.Table, customer_ids: list[str]) -> pa.ChunkedArray:
    """Rows of the customers ``customer_ids``, or of no customer (the rules' windows partition by customer;
    a null customer is a partition of its own). Other customers' rows change no new row's flags."""
    import pyarrow as pa
    import pyarrow.compute as pc

    column = table["customer_id"]
    return pc.or_(pc.is_in(column, value_set=pa.array(customer_ids, pa.string())), pc.is_null(column))


def after(table: pa.Table, instant: datetime) -> pa.ChunkedArray:
    """Rows ingested after ``instant``, compared in microseconds (the column's milliseconds widened, never
    ``instant`` truncated)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    us = pa.timestamp("us", tz="UTC")
    return pc.greater(pc.cast(table["ingest_time"], us), pa.scalar(instant, us))


def needed(new: pa.Table, context: pa.Table, window_min: int) -> pa.Table:
    """The rows of ``context`` (counted rows of ``new``'s customers) that can change a flag of a new row.

    The velocity rule counts a customer's rows within ``window_min`` minutes of event time before each new
    row, and the travel rule looks at the row just before it (by event time, then _id). A row more than the
    window before the customer's earliest new row is in no new row's window, and only the latest such row can
    be a new row's predecessor (every later new row's predecessor is at or after the earliest new row). So per
    customer: the rows from that cutoff on, and the one latest row before it. In a dense stream (500,000 cards
    at 2,000 tx/s, bench/soak.py) the 60-minute lookback holds about 12 rows per customer; most are dropped
    here. Rows without a customer or an event time are all kept (the rules see them as they are).
    """
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not context.num_rows or not new.num_rows:
        return context
    ms = pa.timestamp("ms", tz="UTC")  # the rules compare unix_millis: milliseconds, floored
    first = new.select(["customer_id"]).append_column("_cut", pc.cast(new["event_time"], ms, safe=False))
    first = first.group_by("customer_id").aggregate([("_cut", "min")])
    window = pa.scalar(window_min * 60_000, pa.int64())
    cutoffs = pa.table({"customer_id": first["customer_id"],
                        "_cut": pc.subtract(pc.cast(first["_cut_min"], pa.int64()), window)})
    keys = context.select(["customer_id", "event_time", "_id"])  # what is compared; ``_n`` says which row
    joined = keys.append_column("_n", pa.array(np.arange(context.num_rows))).join(
        cutoffs, "customer_id", join_type="left outer")
    event_ms = pc.cast(pc.cast(joined["event_time"], ms, safe=False), pa.int64())
    before = pc.fill_null(pc.less(event_ms, joined["_cut"]), False)
    latest = joined.filter(before).sort_by([("customer_id", "ascending"), ("event_time", "descending"),
                                            ("_id", "descending")])
    latest = latest.append_column("_k", pa.array(np.arange(latest.num_rows)))
    firsts = latest.group_by("customer_id", use_threads=False).aggregate([("_k", "min")])["_k_min"]
    keep = pa.concat_arrays([joined.filter(pc.invert(before))["_n"].combine_chunks(),
                             latest.take(firsts)["_n"].combine_chunks()])
    return context.take(keep.sort())  # in the given order


def projected(table: pa.Table) -> pa.Table:
    return table.select(list(LOOKBACK_FIELDS))


class LookbackRows:
    """Counted rows in (``bounds[0]``, ``bounds[1]``], the lookback before the watermark ``bounds[1]``."""

    def __init__(self) -> None:
        self.tables: list[pa.Table] = []  # one per refresh, oldest first, ``projected``
        self.newest: list[datetime] = []  # each table's largest ingest time, to drop it without a scan
        self.bounds: tuple[datetime, datetime] | None = None

    @property
    def holding(self) -> bool:
        """Whether lookback rows are kept: a refresh then reads only the rows after the watermark."""
        return self.bounds is not None

    @property
    def rows(self) -> int:
        return sum(t.num_rows for t in self.tables)

    def of_customers(self, customer_ids: list[str]) -> pa.Table | None:
        """The kept rows the rules need for new rows of ``customer_ids`` (None when nothing is kept)."""
        import pyarrow as pa

        if self.bounds is None or not self.tables:
            return None
        import pyarrow.compute as pc

        table = pa.concat_tables(self.tables)  # zero-copy: the tables become the chunks
        return table.filter(pc.and_(after(table, self.bounds[0]), theirs(table, customer_ids)))

    def advance(self, read: pa.Table, upper: datetime, lookback_min: int) -> None:
        """Keep the rows of ``read`` (a refresh's, mongo schema: its new rows, and its lookback when nothing
        was kept) once the refresh has committed ``upper``; drop the tables wholly before the lookback."""
        import pyarrow.compute as pc

        since = upper - timedelta(minutes=lookback_min)
        if read.num_rows:
            self.tables.append(projected(read))
            self.newest.append(pc.max(read["ingest_time"]).as_py())
        kept = [n for n, newest in enumerate(self.newest) if newest > since]
        self.tables, self.newest = [self.tables[n] for n in kept], [self.newest[n] for n in kept]
        self.bounds = (since, upper)

    def forget(self) -> None:
        self.tables, self.newest, self.bounds = [], [], None

    def hand_over(self, file: Path) -> None:
        """Leave the kept rows for the next loop (handover.py), for the watermark they are current with."""
        if self.bounds is None or not self.tables:
            return
        import pyarrow as pa

        since, upper = self.bounds
        handover.write(file, pa.concat_tables(self.tables), {"since": since.isoformat(), "upper": upper.isoformat()})

    def take_over(self, file: Path, watermark: datetime | None) -> bool:
        """Hold the rows of a previous loop's ``hand_over`` if it was written at ``watermark`` (the stored
        one); the file is removed either way (a later watermark makes it useless)."""
        left = handover.take(file) if watermark is not None else None
        if left is None:
            return False
        table, bounds = left
        try:
            since, upper = (datetime.fromisoformat(bounds[k]) for k in ("since", "upper"))
        except (KeyError, TypeError, ValueError):
            log.warning("kpi: the previous loop's lookback file %s has no valid bounds: %s", file, bounds)
            return False
        if upper != watermark:
            return False
        self.tables, self.bounds = [table], (since, upper)
        self.newest = [upper]  # at most the watermark: dropped once the lookback has passed it
        return True
