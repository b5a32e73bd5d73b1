"""A loop's in-memory copy of the last 24 h of buckets (kpi/recent.py) publishes exactly what a full read
would: through new minutes, late events in old minutes, and another writer committing in between."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake.kpi import buckets, snapshot
from paylake.kpi.headline import SERIES_MINUTES, floor_minute
from paylake.kpi.job import run_refresh
from paylake.kpi.recent import LoopCache, RecentBuckets

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _same_as_a_full_read(db, cache: RecentBuckets, watermark: datetime) -> None:  # type: ignore[no-untyped-def]
    full = buckets.load(db, since=floor_minute(watermark) - timedelta(minutes=SERIES_MINUTES))
    assert [(b.minute, b.count, b.amount, b.hist) for b in full] == [
        (b.minute, b.count, b.amount, b.hist) for _, b in sorted(cache.by_minute.items())
    ]


def test_the_cache_follows_new_minutes_late_events_and_other_writers(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client
) -> None:
    seed_dimensions(mongo_db)
    loop = LoopCache()
    cache = loop.buckets
    steps = [
        make_records(300, T0, prefix="a"),
        make_records(120, T0 + timedelta(minutes=5), prefix="b")
        # late: event times in minutes the first refresh already published, ingested now
        + make_records(40, T0 + timedelta(minutes=1), prefix="late", ingest_delay=timedelta(minutes=9)),
        make_records(60, T0 + timedelta(minutes=12), prefix="c"),
    ]
    for i, rows in enumerate(steps):
        insert(mongo_db, rows)
        result = run_refresh(spark, settings, cache=loop)
        assert result.watermark is not None
        _same_as_a_full_read(mongo_db, cache, result.watermark)
        snap = snapshot.read(redis_client)
        assert snap is not None
        check_snapshot(mongo_db, snap)
        assert cache.reloads == 1, f"step {i}: a loop's own refreshes never re-read the whole day"

    insert(mongo_db, make_records(30, T0 + timedelta(minutes=15), prefix="other"))
    run_refresh(spark, settings)  # another writer (a refresh by hand) commits in between
    insert(mongo_db, make_records(30, T0 + timedelta(minutes=17), prefix="d"))
    result = run_refresh(spark, settings, cache=loop)
    assert cache.reloads == 2 and result.watermark is not None
    _same_as_a_full_read(mongo_db, cache, result.watermark)
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 580
    check_snapshot(mongo_db, snap)


@pytest.mark.parametrize(("handover", "pipelined"), [(False, False), (True, False), (False, True)])
def test_a_loop_flags_exactly_what_single_refreshes_flag(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, monkeypatch, tmp_path, handover: bool, pipelined: bool
) -> None:
    """The kept lookback rows give the rules the same context as reading the lookback from MongoDB (each single
    refresh reads it projected to ``rules.LOOKBACK_FIELDS``; the loop keeps the rows it read): the same
    alerts, with velocity and travel firing across refresh boundaries; also when each refresh is a new loop's
    first that takes over the rows the previous loop left (lookback.py) instead of reading them, and when the
    loop reads each range while the previous refresh runs (prefetch.py; the rows inserted meanwhile) and
    counts it in 2 Spark tasks. The customers are fetched once: by the loop, and with the hand-over by the
    first loop only (customers.py)."""
    import pymongo

    from paylake import names
    from paylake.kpi import job, reads
    from paylake.kpi.prefetch import Prefetcher

    plain = settings.with_overrides(mongo_db=f"{settings.mongo_db}_plain")
    client: pymongo.MongoClient = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    other = client[plain.mongo_db]
    far = {"latitude": 51.5, "longitude": -0.1}  # London, minutes after New York: travel
    steps = [
        make_records(200, T0, prefix="a"),
        make_records(100, T0 + timedelta(minutes=4), prefix="b") + make_records(3, T0 + timedelta(minutes=4, seconds=2),
                                                                                 prefix="far", **far),
        make_records(100, T0 + timedelta(minutes=7), prefix="c"),
    ]
    loop = LoopCache()
    if handover:  # as loop.loop sets it: the first loop too records the dimensions' version for the next
        loop.customers_handover = tmp_path / "customers.arrow"
    complete = [T0 - timedelta(days=1)]  # the largest ingest time inserted whole
    if pipelined:
        # Each step reads up to the rows inserted whole: FerretDB makes an unordered insert's documents visible
        # one by one, and a read amid it would take rows beyond others not visible yet (the loop's lateness).
        loop.prefetcher = Prefetcher(settings, lambda _db: complete[-1], step_s=0.05)
    lookback_reads: list[bool] = []  # per read of the loop's database: whether it read a lookback too
    hot_read = reads.hot_read

    def recording(db, since, lower, target):  # type: ignore[no-untyped-def]
        if db.name == mongo_db.name:
            lookback_reads.append(since != lower)
        return hot_read(db, since, lower, target)

    monkeypatch.setattr(reads, "hot_read", recording)
    try:
        for db in (mongo_db, other):
            seed_dimensions(db)
        mongo_db[names.DIMENSIONS_STATE].insert_one({"_id": "seeded", "customers": 50, "at": T0})
        fetched = []  # customers each refresh of the loop fetched from MongoDB
        for n, rows in enumerate(steps):
            if handover and n:  # the previous loop ended: a new one takes over what it left
                loop.rows.hand_over(tmp_path / "lookback.arrow")
                loop.customers.hand_over(tmp_path / "customers.arrow", loop.dimensions)
                loop = LoopCache()
                loop.handover, loop.customers_handover = tmp_path / "lookback.arrow", tmp_path / "customers.arrow"
            for db, kwargs in ((mongo_db, {"cache": loop}), (other, {})):
                insert(db, rows)
                complete.append(max(r["ingest_time"] for r in rows))
                monkeypatch.setattr(job, "LARGE_RANGE", 1 if pipelined and db is mongo_db else None)
                result = run_refresh(spark, settings if db is mongo_db else plain, **kwargs)
                if db is mongo_db:
                    fetched.append(result.customers_read)
            kept = sorted(pa.concat_tables(loop.rows.tables)["_id"].to_pylist())
            expected = sorted(r["transaction_id"] for step in steps[: n + 1] for r in step)
            assert loop.rows.holding and kept == expected, (set(expected) - set(kept), len(kept))
        if loop.prefetcher is not None:
            assert loop.prefetcher.taken == len(steps) - 1, "each refresh after the first took its prefetched read"
        assert not any(lookback_reads), "the loop never read a lookback from MongoDB (the first refresh ever has none)"
        assert not (tmp_path / "lookback.arrow").exists(), "a file taken over is removed"
        # all 50 customers pay in the first step: a loop fetches them once, and so do loops that take them over
        assert fetched == [50, 0, 0], fetched

        def alerts(db) -> set[tuple[str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
            return {(a["_id"], tuple(a["rules"])) for a in db[names.ALERTS].find()}

        assert alerts(mongo_db) == alerts(other)
        fired = {rule for _, rules in alerts(mongo_db) for rule in rules}
        assert {"velocity", "travel"} <= fired, fired
        later = {i for i, rules in alerts(mongo_db) if i.startswith(("b", "c", "far"))}
        assert later, "rules fire on rows whose context is in an earlier refresh"
    finally:
        if loop.prefetcher is not None:
            loop.prefetcher.discard()
        client.drop_database(plain.mongo_db)
        client.close()
