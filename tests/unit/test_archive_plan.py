"""Archive planning is pure: the oldest whole, fully counted hours, split per UTC date, ids from ranges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from paylake.archive.plan import (
    BATCH_DOCS,
    HOUR,
    Batch,
    HourBucket,
    batch_id,
    docs_to_free,
    eligible_hours,
    plan_batches,
)

T0 = datetime(2026, 1, 1, 20, tzinfo=UTC)
MB = 1024 * 1024


def hours(counts: list[int], uncounted: dict[int, int] | None = None) -> list[HourBucket]:
    uncounted = uncounted or {}
    return [HourBucket(T0 + i * HOUR, n, uncounted.get(i, 0)) for i, n in enumerate(counts)]


def test_docs_to_free_is_zero_under_the_threshold() -> None:
    assert docs_to_free(10 * MB, 1000, 10, 0.8) == 0
    assert docs_to_free(0, 0, 10, 0.8) == 0


def test_docs_to_free_reaches_the_low_water_mark() -> None:
    # 12 MB in 1200 docs (10 KB each), threshold 10 MB, low water 8 MB: 4 MB = 400 docs must go.
    need = docs_to_free(12 * MB, 1200, 10, 0.8)
    assert need == 400
    assert (12 * MB - need * 12 * MB / 1200) <= 8 * MB


def test_oldest_hours_first_until_enough() -> None:
    batches = plan_batches(hours([100, 100, 100, 100]), T0 + 10 * HOUR, need_docs=150)
    assert batches == [Batch("20260101T20-20260101T22", T0, T0 + 2 * HOUR, 200)]


def test_batches_split_at_utc_date_boundaries() -> None:
    batches = plan_batches(hours([100] * 6), T0 + 10 * HOUR, need_docs=550)
    assert [(b.batch_id, b.date, b.expected_docs) for b in batches] == [
        ("20260101T20-20260102T00", "2026-01-01", 400),
        ("20260102T00-20260102T02", "2026-01-02", 200),
    ]


def test_stops_at_the_first_hour_with_uncounted_documents() -> None:
    buckets = hours([100, 100, 100, 100], uncounted={1: 1})
    assert plan_batches(buckets, T0 + 10 * HOUR, need_docs=1000) == [
        Batch("20260101T20-20260101T21", T0, T0 + HOUR, 100)
    ]


def test_an_hour_not_closed_by_the_watermark_stays_hot() -> None:
    watermark = T0 + 2 * HOUR + timedelta(minutes=30)  # hour 2 is still open
    assert [b.start for b in eligible_hours(hours([10, 10, 10, 10]), watermark)] == [T0, T0 + HOUR]
    assert eligible_hours(hours([10]), None) == []
    assert plan_batches(hours([10]), None, need_docs=5) == []


def test_gaps_and_unsorted_input() -> None:
    buckets = [HourBucket(T0 + 3 * HOUR, 5, 0), HourBucket(T0, 5, 0)]  # hours 1 and 2 hold nothing
    assert plan_batches(buckets, T0 + 10 * HOUR, need_docs=10) == [
        Batch("20260101T20-20260102T00", T0, T0 + 4 * HOUR, 10)
    ]


def test_nothing_needed_plans_nothing() -> None:
    assert plan_batches(hours([100]), T0 + 10 * HOUR, need_docs=0) == []


def test_batch_id_is_deterministic_and_suffixed_when_taken() -> None:
    first = batch_id(T0, T0 + HOUR)
    assert first == batch_id(T0, T0 + HOUR) == "20260101T20-20260101T21"
    assert batch_id(T0, T0 + HOUR, {first}) == f"{first}.2"
    assert batch_id(T0, T0 + HOUR, {first, f"{first}.2"}) == f"{first}.3"
    assert plan_batches(hours([10]), T0 + 10 * HOUR, 5, taken_ids={first})[0].batch_id == f"{first}.2"


def test_five_minute_slices_for_the_demo() -> None:
    five = timedelta(minutes=5)
    slices = [HourBucket(T0 + i * five, 10, 0) for i in range(4)]
    watermark = T0 + 3 * five + timedelta(minutes=2)  # the fourth slice is still open
    assert [b.start for b in eligible_hours(slices, watermark, five)] == [T0, T0 + five, T0 + 2 * five]
    [batch] = plan_batches(slices, watermark, need_docs=15, slice_len=five)
    assert (batch.start, batch.end, batch.expected_docs) == (T0, T0 + 2 * five, 20)
    assert batch.batch_id == "20260101T2000-20260101T2010"


def test_a_batch_closes_on_the_slice_that_reaches_batch_docs() -> None:
    big = BATCH_DOCS // 2 + 1  # two such hours exceed BATCH_DOCS: the third starts a new batch
    batches = plan_batches(hours([big, big, big, 10]), T0 + 10 * HOUR, need_docs=3 * big + 10)
    assert [(b.start, b.end, b.expected_docs) for b in batches] == [
        (T0, T0 + 2 * HOUR, 2 * big),
        (T0 + 2 * HOUR, T0 + 4 * HOUR, big + 10),
    ]
