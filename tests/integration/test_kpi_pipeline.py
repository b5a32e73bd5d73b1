"""The pipelined loop (kpi/prefetch.py): the next range read while a refresh runs counts every row exactly
once, with rows arriving all along, and is never used once anything it assumed changed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake.kpi import snapshot, state
from paylake.kpi.job import run_refresh
from paylake.kpi.prefetch import Prefetcher
from paylake.kpi.recent import LoopCache

T0 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


@pytest.fixture
def loop(settings) -> Iterator[LoopCache]:  # type: ignore[no-untyped-def]
    cache = LoopCache()
    cache.prefetcher = Prefetcher(settings, lambda _db: None, step_s=0.05)  # bound None: whatever is present
    yield cache
    cache.prefetcher.discard()


def _settle(spark, settings, loop: LoopCache) -> int:  # type: ignore[no-untyped-def]
    """Refresh until nothing is new; the rows counted."""
    counted = 0
    for _ in range(10):
        new = run_refresh(spark, settings, cache=loop).new_count
        if new == 0:
            return counted
        counted += new
    raise AssertionError("the loop never caught up")


def test_pipelined_refreshes_count_rows_arriving_during_them_exactly_once(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client, loop
) -> None:
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(200, T0, prefix="a"))
    stop, inserted = threading.Event(), [200]

    def stream() -> None:  # batches in ingest-time order, while refreshes and their prefetches run
        batch = 0
        while not stop.is_set():
            insert(mongo_db, make_records(15, T0 + timedelta(minutes=5, seconds=15 * batch), prefix=f"s{batch}_"))
            inserted[0] += 15
            batch += 1
            stop.wait(0.03)

    writer = threading.Thread(target=stream)
    writer.start()
    try:
        counted = sum(run_refresh(spark, settings, cache=loop).new_count for _ in range(5))
    finally:
        stop.set()
        writer.join()
    counted += _settle(spark, settings, loop)
    assert loop.prefetcher is not None and loop.prefetcher.taken >= 5
    assert counted == inserted[0] > 200
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == inserted[0]
    check_snapshot(mongo_db, snap)


def test_a_prefetched_read_is_discarded_after_a_failed_refresh(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client, loop, monkeypatch
) -> None:
    from paylake.faults import FAULT_ENV, InjectedFault

    assert loop.prefetcher is not None
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(100, T0, prefix="a"))
    assert run_refresh(spark, settings, cache=loop).new_count == 100
    insert(mongo_db, make_records(60, T0 + timedelta(minutes=3), prefix="b"))
    monkeypatch.setenv(FAULT_ENV, "merge")  # b's buckets merged, the watermark not advanced
    with pytest.raises(InjectedFault):
        run_refresh(spark, settings, cache=loop)
    assert loop.prefetcher.thread is None, "the read after the failed range was stopped and dropped"
    assert loop.prefetcher.taken == 1 and state.read_pending(mongo_db) is not None
    monkeypatch.delenv(FAULT_ENV)
    insert(mongo_db, make_records(40, T0 + timedelta(minutes=6), prefix="c"))
    redo = run_refresh(spark, settings, cache=loop)  # the pending range, read again, not prefetched
    assert redo.resumed and redo.new_count == 60 and loop.prefetcher.taken == 1
    assert run_refresh(spark, settings, cache=loop).new_count == 40 and loop.prefetcher.taken == 2
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 200
    check_snapshot(mongo_db, snap)


def test_a_prefetched_read_is_not_used_after_another_writer_commits(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client, loop
) -> None:
    assert loop.prefetcher is not None
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(100, T0, prefix="a"))
    assert run_refresh(spark, settings, cache=loop).new_count == 100
    insert(mongo_db, make_records(50, T0 + timedelta(minutes=3), prefix="b"))  # the loop's prefetch may read it
    assert run_refresh(spark, settings).new_count == 50  # a refresh by hand counts it first
    insert(mongo_db, make_records(30, T0 + timedelta(minutes=6), prefix="c"))
    assert run_refresh(spark, settings, cache=loop).new_count == 30
    assert loop.prefetcher.taken == 0, "the watermark moved under the prefetch: it was dropped"
    assert run_refresh(spark, settings, cache=loop).new_count == 0 and loop.prefetcher.taken == 1
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 180
    check_snapshot(mongo_db, snap)
