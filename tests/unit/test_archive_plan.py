"""Archive planning is pure: the oldest whole, fully counted hours, split per UTC date, ids from ranges."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime, timedelta, timezone

from paylake.archive.plan import (
    BATCH_DOCS,
    FIRST_BATCH_DOCS,
    HOUR,
    Batch,
    Batcher,
    batch_id,
    docs_to_free,
    eligible_end,
    slice_start,
)

T0 = datetime(2026, 1, 1, 20, tzinfo=UTC)
MB = 1024 * 1024


def hours(counts: list[int]) -> list[tuple[datetime, int]]:
    return [(T0 + i * HOUR, n) for i, n in enumerate(counts)]


def plan(
    slices: list[tuple[datetime, int]], need_docs: int, slice_len: timedelta = HOUR, taken_ids: Collection[str] = ()
) -> list[Batch]:
    """What a run plans from these slices, read oldest first as slices.batches does."""
    batcher, out = Batcher(need_docs, slice_len, taken_ids), []
    for start, docs in slices:
        if batcher.done:
            break
        out += batcher.add(start, docs)
    return out + batcher.close()


def test_docs_to_free_is_zero_under_the_threshold() -> None:
    assert docs_to_free(10 * MB, 1000, 10, 0.8) == 0
    assert docs_to_free(0, 0, 10, 0.8) == 0


def test_docs_to_free_reaches_the_low_water_mark() -> None:
    # 12 MB in 1200 docs (10 KB each), threshold 10 MB, low water 8 MB: 4 MB = 400 docs must go.
    need = docs_to_free(12 * MB, 1200, 10, 0.8)
    assert need == 400
    assert (12 * MB - need * 12 * MB / 1200) <= 8 * MB


def test_a_started_run_frees_down_to_the_low_water_mark() -> None:
    # Under the threshold nothing starts; a run that has moved some goes on above the low-water mark.
    assert docs_to_free(9 * MB, 900, 10, 0.8) == 0
    assert docs_to_free(9 * MB, 900, 10, 0.8, started=True) == 100
    assert docs_to_free(8 * MB, 800, 10, 0.8, started=True) == 0


def test_oldest_hours_first_until_enough() -> None:
    batches = plan(hours([100, 100, 100, 100]), need_docs=150)
    assert batches == [Batch("20260101T20-20260101T22", T0, T0 + 2 * HOUR, 200)]


def test_a_batch_is_returned_as_soon_as_it_is_final() -> None:
    batcher = Batcher(need_docs=150)
    assert batcher.add(T0, 100) == [] and not batcher.done
    assert batcher.add(T0 + HOUR, 100) == [Batch("20260101T20-20260101T22", T0, T0 + 2 * HOUR, 200)]
    assert batcher.done and batcher.close() == []


def test_batches_split_at_utc_date_boundaries() -> None:
    batches = plan(hours([100] * 6), need_docs=550)
    assert [(b.batch_id, b.date, b.expected_docs) for b in batches] == [
        ("20260101T20-20260102T00", "2026-01-01", 400),
        ("20260102T00-20260102T02", "2026-01-02", 200),
    ]


def test_a_slice_not_closed_by_the_watermark_is_not_eligible() -> None:
    watermark = T0 + 2 * HOUR + timedelta(minutes=30)  # hour 2 is still open
    assert eligible_end(watermark) == T0 + 2 * HOUR
    assert eligible_end(T0 + 2 * HOUR) == T0 + 2 * HOUR  # a watermark on a boundary closes the hour before it
    five = timedelta(minutes=5)
    assert eligible_end(T0 + 3 * five + timedelta(minutes=2), five) == T0 + 3 * five


def test_slices_start_at_whole_slices_from_the_epoch() -> None:
    assert slice_start(T0 + timedelta(minutes=59, seconds=59, milliseconds=999)) == T0
    assert slice_start(T0 + timedelta(minutes=7), timedelta(minutes=5)) == T0 + timedelta(minutes=5)
    local = datetime(2026, 1, 1, 21, 30, tzinfo=timezone_plus_one())
    assert slice_start(local) == T0  # 21:30 at UTC+1 is 20:30 UTC
    assert slice_start(datetime(1969, 12, 31, 23, 30, tzinfo=UTC)) == datetime(1969, 12, 31, 23, tzinfo=UTC)


def timezone_plus_one() -> timezone:
    return timezone(timedelta(hours=1))


def test_gaps_between_slices_stay_inside_one_batch() -> None:
    batches = plan([(T0, 5), (T0 + 3 * HOUR, 5)], need_docs=10)
    assert batches == [Batch("20260101T20-20260102T00", T0, T0 + 4 * HOUR, 10)]


def test_nothing_needed_plans_nothing() -> None:
    assert Batcher(need_docs=0).done
    assert plan(hours([100]), need_docs=0) == []


def test_batch_id_is_deterministic_and_suffixed_when_taken() -> None:
    first = batch_id(T0, T0 + HOUR)
    assert first == batch_id(T0, T0 + HOUR) == "20260101T20-20260101T21"
    assert batch_id(T0, T0 + HOUR, {first}) == f"{first}.2"
    assert batch_id(T0, T0 + HOUR, {first, f"{first}.2"}) == f"{first}.3"
    assert plan(hours([10]), need_docs=5, taken_ids={first})[0].batch_id == f"{first}.2"


def test_five_minute_slices_for_the_demo() -> None:
    five = timedelta(minutes=5)
    [batch] = plan([(T0 + i * five, 10) for i in range(3)], need_docs=15, slice_len=five)
    assert (batch.start, batch.end, batch.expected_docs) == (T0, T0 + 2 * five, 20)
    assert batch.batch_id == "20260101T2000-20260101T2010"


def test_a_batch_closes_on_the_slice_that_reaches_batch_docs_the_first_sooner() -> None:
    small = FIRST_BATCH_DOCS // 2 + 1  # two such hours close the first batch
    big = BATCH_DOCS // 2 + 1  # two such hours exceed BATCH_DOCS: the next one starts a new batch
    batches = plan(hours([small, small, big, big, big, 10]), need_docs=10 * BATCH_DOCS)
    assert [(b.start, b.end, b.expected_docs) for b in batches] == [
        (T0, T0 + 2 * HOUR, 2 * small),
        (T0 + 2 * HOUR, T0 + 4 * HOUR, 2 * big),  # 2026-01-01 ends at T0 + 4 h
        (T0 + 4 * HOUR, T0 + 6 * HOUR, big + 10),
    ]


def test_one_slice_can_close_two_batches() -> None:
    # 23:00 is on 2026-01-01; midnight starts 2026-01-02 and alone holds BATCH_DOCS: it closes the open batch of
    # the 1st, then its own
    batcher = Batcher(need_docs=10 * BATCH_DOCS)
    assert batcher.add(T0 + 3 * HOUR, 10) == []  # the first batch: under FIRST_BATCH_DOCS
    closed = batcher.add(T0 + 4 * HOUR, BATCH_DOCS)
    assert [(b.date, b.expected_docs) for b in closed] == [("2026-01-01", 10), ("2026-01-02", BATCH_DOCS)]
