"""Choose what to archive: the oldest whole event-time hours, only data the KPI job has counted. Pure.

Policy (documented in the README):
* The unit is the event-time hour (``PAYLAKE_ARCHIVE_SLICE_MIN``, default 60 minutes; the demo uses 5 so
  archiving fires within minutes); a batch is a run of consecutive hours within one UTC date, so each
  batch publishes with one rename into ``date=YYYY-MM-DD/batch=<id>/``.
* An hour is eligible only when it is closed by the KPI watermark (hour end <= watermark) and none of its
  documents is still uncounted (ingest_time > watermark). Planning stops at the first ineligible hour:
  archived data is always the oldest, and nothing the KPI job has not counted ever leaves the hot store.
* Hours are taken oldest first until the documents to free are covered (whole hours: a little more moves
  than strictly needed, which is the point of the low-water mark).
* A batch closes once it holds BATCH_DOCS documents (whole slices: a slice is never split): a batch is read
  into memory whole, and a run moves its batches as a pipeline (one is deleted while the next is written).
  A run's first batch closes at FIRST_BATCH_DOCS, so its first delete comes soon after the run starts.
* The batch id is derived from the range, so a re-run of the same plan names the same batch; a range that
  is archived again later (late events landing in an archived hour) gets a ``.2``, ``.3`` … suffix.
The plan is made as the run reads (slices.py), slice by slice, not from a histogram of the whole hot store read
beforehand: that histogram read every hot document once more than the copy does (25-34 s of a 160-s run in a
3,000 tx/s soak). The wall clock plays no part: the inputs are the store's size, its documents and the watermark.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Documents per batch, at least (it closes on the slice that reaches this): ~40 MB of Arrow in the archive's
# memory, one Parquet file of ~10 MB, and a catch-up of a day or more moves as many batches, pipelined.
BATCH_DOCS = 250_000
# A run's first batch closes sooner: nothing is deleted before it is published, so its size is how long the hot
# store goes on growing at a run's start (at 3,000 tx/s a 250,000-document first batch took ~35 s to read,
# write and publish, and the hot store passed its bound meanwhile), and nothing overlaps its read.
FIRST_BATCH_DOCS = 50_000


@dataclass(frozen=True)
class Batch:
    batch_id: str
    start: datetime  # inclusive event time
    end: datetime  # exclusive event time
    expected_docs: int  # the counted documents its slices held when they were read

    @property
    def date(self) -> str:
        return self.start.strftime("%Y-%m-%d")


def docs_to_free(
    data_bytes: float, docs: int, threshold_mb: float, low_water: float, *, started: bool = False
) -> int:
    """How many average-sized documents must leave so the data size drops to ``low_water`` x threshold.

    Zero when the store is not over the threshold: a run only starts above it, then frees down to below
    the low-water mark so the next check does not fire straight away. A run that has ``started`` moving
    goes on while the store is over the low-water mark.
    """
    threshold = threshold_mb * 1024 * 1024
    if docs <= 0 or data_bytes <= (low_water * threshold if started else threshold):
        return 0
    per_doc = data_bytes / docs
    return min(docs, math.ceil((data_bytes - low_water * threshold) / per_doc))


def batch_id(start: datetime, end: datetime, taken: Collection[str] = ()) -> str:
    whole_hours = start.minute == end.minute == 0
    base = f"{start:%Y%m%dT%H}-{end:%Y%m%dT%H}" if whole_hours else f"{start:%Y%m%dT%H%M}-{end:%Y%m%dT%H%M}"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}.{n}"
    return candidate


def slice_start(t: datetime, slice_len: timedelta = HOUR) -> datetime:
    """The start of the slice holding ``t``: slices are counted from the Unix epoch, in exact integer arithmetic
    on the stored (UTC, millisecond) dates."""
    return EPOCH + (t.astimezone(UTC) - EPOCH) // slice_len * slice_len


def eligible_end(watermark: datetime, slice_len: timedelta = HOUR) -> datetime:
    """Slices starting before this are closed by the KPI watermark (they end at or before it)."""
    return slice_start(watermark, slice_len)


@dataclass
class Batcher:
    """Groups slices into batches as they are read, oldest first (the policy above): ``add`` each slice's
    counted documents in turn until ``done``, then ``close``. Every batch it returns is final."""

    need_docs: int
    slice_len: timedelta = HOUR
    taken_ids: Collection[str] = ()
    total: int = 0
    _open: list[tuple[datetime, int]] = field(default_factory=list)
    _made: set[str] = field(default_factory=set)

    @property
    def done(self) -> bool:
        """Enough documents are planned (or none were needed)."""
        return self.total >= self.need_docs

    def add(self, start: datetime, docs: int) -> list[Batch]:
        """Take the next slice (after every slice added before it); returns the batches it closed: the open one
        when this slice starts another UTC date, and the one this slice fills up or makes enough."""
        closed = []
        if self._open and start.date() != self._open[0][0].date():
            closed += self.close()
        self._open.append((start, docs))
        self.total += docs
        if sum(n for _, n in self._open) >= (BATCH_DOCS if self._made else FIRST_BATCH_DOCS) or self.done:
            closed += self.close()
        return closed

    def close(self) -> list[Batch]:
        """The open batch, if any slice is in it."""
        if not self._open:
            return []
        start, end = self._open[0][0], self._open[-1][0] + self.slice_len
        batch = Batch(batch_id(start, end, {*self.taken_ids, *self._made}), start, end, sum(n for _, n in self._open))
        self._made.add(batch.batch_id)
        self._open.clear()
        return [batch]
