"""Inserts in flight (paylake/inflight.py): a KPI refresh never counts part of a batch that is still landing.

The 2,000 tx/s soak of 2026-12-02 lost 1,112 transactions from the KPIs: an insert stalled for longer than the
allowed lateness, a refresh counted the documents of it that were visible and moved the watermark to the
batch's stamp, and the rest landed behind it. Here an insert stops half-way on purpose (the first half is
stored and visible, the rest waits) while a refresh runs with no lateness at all.
"""

from __future__ import annotations

import socket
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_records
from kpi_truth import seed_dimensions

from paylake import clock, inflight, names
from paylake.generator.ingest import Ingestor
from paylake.kpi import snapshot, state
from paylake.kpi.job import run_refresh

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


class _HalfThenWait:
    """The fact collection, whose next ``insert_many`` stores half of its documents, then waits for ``go``."""

    def __init__(self, coll: Any) -> None:
        self.coll, self.half_landed, self.go = coll, threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.coll, name)

    def insert_many(self, docs: list[dict[str, Any]], ordered: bool = True) -> Any:
        half = len(docs) // 2
        self.coll.insert_many(docs[:half], ordered=ordered)
        self.half_landed.set()
        assert self.go.wait(60)
        return self.coll.insert_many(docs[half:], ordered=ordered)


def _all_time(redis_client: Any) -> int:
    snap = snapshot.read(redis_client)
    assert snap is not None
    return snap.headlines["all"].count


@pytest.mark.parametrize("fenced", [True, False], ids=["fenced", "unfenced"])
def test_a_stalled_insert_is_counted_whole_and_once(spark, settings, mongo_db, redis_client, fenced: bool) -> None:  # type: ignore[no-untyped-def]
    """Fenced, the refresh during the stall stops below the batch and the next one counts all of it. Without
    the fence (the writer's entry never opened) the same steps count half the batch for good: the loss the
    soak showed, so this scenario does reproduce it."""
    settings = settings.with_overrides(kpi_lateness_s=0.0)
    seed_dimensions(mongo_db)
    ingestor = Ingestor(mongo_db)
    ingestor.ingest(make_records(100, T0, prefix="before"))
    assert inflight.entries(mongo_db).count_documents({}) == 0  # closed once the batch landed
    if not fenced:
        ingestor.fence.open = clock.now_ms  # type: ignore[method-assign]
    slow = ingestor.tx = _HalfThenWait(mongo_db[names.TRANSACTIONS])
    writer = threading.Thread(target=ingestor.ingest, args=(make_records(400, T0 + timedelta(hours=1), prefix="slow"),))
    writer.start()
    try:
        assert slow.half_landed.wait(60)
        stamp = mongo_db[names.TRANSACTIONS].find_one(sort=[("ingest_time", -1)])["ingest_time"]
        assert mongo_db[names.TRANSACTIONS].count_documents({}) == 300
        during = run_refresh(spark, settings, until=clock.now() + timedelta(seconds=1))
    finally:
        slow.go.set()
        writer.join(60)
    assert ingestor.counts.inserted == 500
    watermark = state.read_watermark(mongo_db)
    assert watermark is not None
    if fenced:
        assert during.new_count == 100 and watermark < stamp
    else:
        assert during.new_count == 300 and watermark == stamp
    run_refresh(spark, settings, until=clock.now() + timedelta(seconds=1))
    assert _all_time(redis_client) == (500 if fenced else 300)


def test_writers_that_died_do_not_hold_the_bound(mongo_db: Any) -> None:
    entries = inflight.entries(mongo_db)
    now = clock.now_ms()
    bound = now + timedelta(seconds=10)
    assert inflight.settled(mongo_db, bound, 300) == bound  # nothing in flight
    exited = subprocess.Popen(["true"])
    exited.wait()
    host = socket.gethostname()
    entries.insert_many([
        {"_id": f"{host}:{exited.pid}:exited", "opened": now - timedelta(seconds=5)},
        {"_id": "elsewhere:1:too-old", "opened": now - timedelta(seconds=400)},
    ])
    assert inflight.settled(mongo_db, bound, 300) == bound
    assert entries.count_documents({}) == 0  # both cleared

    live = inflight.Fence(mongo_db)
    opened = live.open()
    assert live.open() == opened  # a retry keeps the first attempt's entry
    entries.insert_one({"_id": "elsewhere:1:live", "opened": now - timedelta(seconds=60)})
    assert inflight.settled(mongo_db, bound, 300) == now - timedelta(seconds=60, milliseconds=1)
    entries.delete_one({"_id": "elsewhere:1:live"})
    assert inflight.settled(mongo_db, None, 300) == opened - timedelta(milliseconds=1)
    assert inflight.settled(mongo_db, opened - timedelta(seconds=1), 300) == opened - timedelta(seconds=1)
    live.close()
    assert entries.count_documents({}) == 0 and inflight.settled(mongo_db, None, 300) is None
