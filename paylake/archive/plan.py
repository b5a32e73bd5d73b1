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
* The batch id is derived from the range, so a re-run of the same plan names the same batch; a range that
  is archived again later (late events landing in an archived hour) gets a ``.2``, ``.3`` … suffix.
The wall clock plays no part: the inputs are the store's own statistics, histogram and watermark.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

HOUR = timedelta(hours=1)
# Documents per batch, at least (it closes on the slice that reaches this): ~40 MB of Arrow in the archive's
# memory, one Parquet file of ~10 MB, and a catch-up of a day or more moves as many batches, pipelined.
BATCH_DOCS = 250_000


@dataclass(frozen=True)
class HourBucket:
    """Hot documents whose event time falls in [start, start + slice), the slice being an hour by default."""

    start: datetime
    docs: int
    uncounted: int  # of which ingest_time > watermark


@dataclass(frozen=True)
class Batch:
    batch_id: str
    start: datetime  # inclusive event time
    end: datetime  # exclusive event time
    expected_docs: int  # from the histogram; the job archives what the range holds at read time

    @property
    def date(self) -> str:
        return self.start.strftime("%Y-%m-%d")


def docs_to_free(data_bytes: float, docs: int, threshold_mb: float, low_water: float) -> int:
    """How many average-sized documents must leave so the data size drops to ``low_water`` x threshold.

    Zero when the store is not over the threshold: a run only starts above it, then frees down to below
    the low-water mark so the next check does not fire straight away.
    """
    threshold = threshold_mb * 1024 * 1024
    if docs <= 0 or data_bytes <= threshold:
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


def eligible_hours(
    buckets: Iterable[HourBucket], watermark: datetime | None, slice_len: timedelta = HOUR
) -> list[HourBucket]:
    """The oldest hours, in order, up to (excluding) the first one not yet fully counted and closed."""
    if watermark is None:
        return []
    out = []
    for bucket in sorted(buckets, key=lambda b: b.start):
        if bucket.uncounted > 0 or bucket.start + slice_len > watermark:
            break
        if bucket.docs > 0:
            out.append(bucket)
    return out


def plan_batches(
    buckets: Iterable[HourBucket],
    watermark: datetime | None,
    need_docs: int,
    taken_ids: Collection[str] = (),
    slice_len: timedelta = HOUR,
) -> list[Batch]:
    """Batches (oldest first, at most one UTC date and about BATCH_DOCS documents each) holding at least
    ``need_docs`` documents, or all eligible ones when there are fewer."""
    batches: list[Batch] = []
    run: list[HourBucket] = []
    total = 0

    def close() -> None:
        if run:
            start, end = run[0].start, run[-1].start + slice_len
            taken = set(taken_ids) | {b.batch_id for b in batches}
            batches.append(Batch(batch_id(start, end, taken), start, end, sum(b.docs for b in run)))
            run.clear()

    if need_docs <= 0:
        return []
    for bucket in eligible_hours(buckets, watermark, slice_len):
        if run and (bucket.start.date() != run[0].start.date() or sum(b.docs for b in run) >= BATCH_DOCS):
            close()
        run.append(bucket)
        total += bucket.docs
        if total >= need_docs:
            break
    close()
    return batches


def batch_filter(start: datetime, end: datetime, watermark: datetime) -> dict[str, Any]:
    """The hot documents of a batch: its event-time range, counted by the KPI job (ingest time ≤ the
    watermark at plan time). The Spark read uses it; the delete goes by the ids read back from cold storage."""
    return {"event_time": {"$gte": start, "$lt": end}, "ingest_time": {"$lte": watermark}}
