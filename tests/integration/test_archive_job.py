"""The archive protocol against the real servers: it moves the oldest counted hours to HDFS Parquet, every
crash point is survived with no loss and no duplicate, and two runs never overlap."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from archive_support import T0, assert_exactly_once, cold_rows, hot_ids, load

from paylake import faults, names
from paylake.archive import manifest
from paylake.archive.coldfs import arrow_filesystem, open_cold
from paylake.archive.job import run_archive
from paylake.archive.manifest import now
from paylake.jobs import ARCHIVE
from paylake.kpi.state import write_watermark
from paylake.lock import Lock, LockBusy

pytestmark = pytest.mark.integration
HOUR = timedelta(hours=1)


def test_archive_moves_the_oldest_hours_below_the_low_water_mark(settings, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    small = settings.with_overrides(hot_max_mb=1.0)
    records = load(mongo_db)
    result = run_archive(small)

    assert result.skipped is None and result.batches
    assert result.data_mb_before > 1.0 and result.data_mb_after is not None and result.data_mb_after < 0.8
    assert_exactly_once(small, mongo_db, [r["transaction_id"] for r in records])
    cold = cold_rows(small)
    hot_times = [d["event_time"] for d in mongo_db[names.TRANSACTIONS].find({}, {"event_time": 1})]
    assert max(r["event_time"] for r in cold) < min(hot_times), "cold must hold the oldest data"
    assert {r["date"] for r in cold} == {r["event_time"].strftime("%Y-%m-%d") for r in cold}

    # Layout, format and manifest
    cold_fs = open_cold(small)
    doc = mongo_db[names.ARCHIVE_MANIFEST].find_one({"_id": result.batches[0]["batch_id"]})
    assert doc["state"] == "complete" and doc["rows"] == sum(1 for r in cold if r["batch"] == doc["_id"])
    paths = manifest.paths(doc["_id"], doc["date"])
    assert cold_fs.read_json(paths.final_json)["state"] == "complete"
    assert not cold_fs.list(manifest.TMP_DIR), "temporary directories must be cleaned up"
    import pyarrow.parquet as pq

    fs, root = arrow_filesystem(small)
    part = next(n for n in cold_fs.list(paths.final) if n.endswith(".parquet"))
    meta = pq.ParquetFile(fs.open_input_file(f"{root}/{paths.final}/{part}")).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    from paylake.schema import arrow_schema

    assert pq.read_schema(fs.open_input_file(f"{root}/{paths.final}/{part}")).remove_metadata() == arrow_schema()

    # Dashboard feeds in Redis
    recent = [json.loads(x) for x in redis_client.lrange(names.ARCHIVE_RECENT, 0, -1)]
    assert {r["batch_id"] for r in recent} == {b["batch_id"] for b in result.batches}
    assert all(r["state"] == "complete" and r["completed_at"] for r in recent)
    size = redis_client.hgetall(names.HOT_SIZE)
    assert float(size["data_mb"]) < float(size["low_water_mb"]) == pytest.approx(0.8)

    # A second run is under the threshold and moves nothing, but refills the list a Redis restart emptied.
    redis_client.delete(names.ARCHIVE_RECENT)
    again = run_archive(small)
    assert again.skipped and "under the threshold" in again.skipped and not again.batches
    assert [json.loads(x) for x in redis_client.lrange(names.ARCHIVE_RECENT, 0, -1)] == recent


def test_only_hours_the_kpi_job_counted_move(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    small = settings.with_overrides(hot_max_mb=0.5)
    records = load(mongo_db, watermark=T0 + 5 * HOUR + timedelta(minutes=30))
    result = run_archive(small)
    cold = cold_rows(small)
    assert len(cold) == 150 and max(r["event_time"] for r in cold) < T0 + 5 * HOUR  # hours 0-4 only
    assert [b["batch_id"] for b in result.batches] == ["20260101T00-20260101T05"]
    assert_exactly_once(small, mongo_db, [r["transaction_id"] for r in records])


@pytest.mark.parametrize("step", faults.ARCHIVE_STEPS)
def test_crash_at_every_step_then_rerun_loses_nothing(step, settings, mongo_db, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    small = settings.with_overrides(hot_max_mb=1.0)
    expected = [r["transaction_id"] for r in load(mongo_db)]

    monkeypatch.setenv(faults.FAULT_ENV, step)
    with pytest.raises(faults.InjectedFault):
        run_archive(small)
    # Even right after the crash nothing is lost (a published batch may still have its rows hot).
    assert_exactly_once(small, mongo_db, expected, allow_in_flight=True)
    assert mongo_db[names.ARCHIVE_MANIFEST].count_documents({"state": {"$ne": "complete"}}) == 1

    monkeypatch.delenv(faults.FAULT_ENV)
    result = run_archive(small)
    assert len(result.recovered) == 1
    rolled_back = step in ("write", "verify")
    assert result.recovered[0].endswith("rolled back" if rolled_back else "completed")
    assert_exactly_once(small, mongo_db, expected)
    assert mongo_db[names.ARCHIVE_MANIFEST].count_documents({"state": {"$ne": "complete"}}) == 0
    assert result.data_mb_after is not None and result.data_mb_after < 0.8
    assert not open_cold(small).list(manifest.TMP_DIR)


def test_a_held_lock_stops_a_second_run_and_a_stale_one_is_taken_over(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    small = settings.with_overrides(hot_max_mb=1.0)
    expected = [r["transaction_id"] for r in load(mongo_db)]
    other = Lock(mongo_db, ARCHIVE.name, ARCHIVE.lock_ttl)
    other.acquire()
    with pytest.raises(LockBusy):
        run_archive(small)
    assert sorted(hot_ids(mongo_db)) == sorted(expected), "a refused run must not touch anything"
    with pytest.raises(LockBusy):
        Lock(mongo_db, ARCHIVE.name, ARCHIVE.lock_ttl).acquire()

    # The holder died: its lock expires and the next run takes it over.
    mongo_db[names.LOCKS].update_one({"_id": ARCHIVE.name}, {"$set": {"expires_at": now() - timedelta(seconds=1)}})
    result = run_archive(small)
    assert result.batches and mongo_db[names.LOCKS].count_documents({}) == 0
    assert_exactly_once(small, mongo_db, expected)
    other.release()  # the old owner's release must not free someone else's lock
    assert mongo_db[names.LOCKS].count_documents({}) == 0


def test_late_events_in_an_archived_hour_move_in_a_suffixed_batch(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    small = settings.with_overrides(hot_max_mb=0.3)
    first = load(mongo_db, count=300, step=timedelta(minutes=1))  # 5 hours
    run_archive(small)
    late = load(mongo_db, count=400, step=timedelta(seconds=9), prefix="late", start=T0)  # same first hour
    write_watermark(mongo_db, T0 + 6 * HOUR)
    result = run_archive(small)
    assert result.batches and result.batches[0]["range_start"] == T0.isoformat()
    assert any(r["transaction_id"].startswith("late") for r in cold_rows(small)), "late events move too"
    all_ids = [d["_id"] for d in mongo_db[names.ARCHIVE_MANIFEST].find({}, {"_id": 1})]
    assert len(all_ids) == len(set(all_ids)) >= 2
    assert_exactly_once(small, mongo_db, [r["transaction_id"] for r in first + late])


def test_cold_storage_down_fails_fast_naming_the_url(settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    from paylake.archive.coldfs import ColdStoreError
    from paylake.stack.process import free_port

    dead = f"http://127.0.0.1:{free_port()}"
    broken = settings.with_overrides(hot_max_mb=1.0, webhdfs_url=dead)
    expected = [r["transaction_id"] for r in load(mongo_db)]
    with pytest.raises(ColdStoreError, match=dead):
        run_archive(broken)
    assert sorted(hot_ids(mongo_db)) == sorted(expected)
    assert mongo_db[names.LOCKS].count_documents({}) == 0, "the lock is released on failure"
