"""The KPI job against the real servers: Redis equals ground truth from MongoDB, and nothing is counted twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake import names
from paylake.kpi import buckets, histogram, snapshot, state, totals
from paylake.kpi.headline import AllTime
from paylake.kpi.job import run_refresh

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_refresh_twice_with_late_events_equals_ground_truth(spark, settings, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(600, T0, prefix="a"))
    first = run_refresh(spark, settings)
    assert first.new_count == 600
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 600
    check_snapshot(mongo_db, snap)
    # One record a second up to the watermark: the last 60 s hold the last 60 (the partial minute's too).
    assert snap.headlines["1m"].count == 60 and snap.headlines["1m"].end == snap.watermark

    # More data, and late events: event time two hours back, ingested now.
    insert(mongo_db, make_records(300, T0 + timedelta(minutes=10), prefix="b"))
    late = make_records(50, T0 - timedelta(hours=2), prefix="late", ingest_delay=timedelta(hours=2, minutes=14))
    insert(mongo_db, late)
    second = run_refresh(spark, settings)
    assert second.new_count == 350 and second.lower == first.watermark
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 950
    assert snap.watermark == state.read_watermark(mongo_db).isoformat()  # type: ignore[union-attr]
    check_snapshot(mongo_db, snap)
    assert sum(snap.series.values["count"]) == snap.headlines["24h"].count

    # The same refresh again: nothing new, nothing counted twice.
    again = run_refresh(spark, settings)
    assert again.run_id is None and again.new_count == 0
    snap = snapshot.read(redis_client)
    assert snap is not None
    check_snapshot(mongo_db, snap)
    flagged = mongo_db[names.ALERTS].count_documents({})
    assert snap.headlines["all"].flagged_count == flagged
    assert_totals_match_buckets(mongo_db)

    # Totals lost (or a store from before they existed): the next publish rebuilds them from the buckets.
    mongo_db[names.KPI_STATE].delete_one({"_id": totals.TOTALS_ID})
    run_refresh(spark, settings)
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 950
    check_snapshot(mongo_db, snap)
    assert_totals_match_buckets(mongo_db)


def test_histogram_v1_store_leaves_old_minutes_out_of_p95(spark, settings, mongo_db, redis_client, caplog) -> None:  # type: ignore[no-untyped-def]
    """Buckets and totals written with the 20-per-decade histogram (field ``hist``) are counted but never
    mixed into p95: it covers the transactions counted since, with a warning naming the windows."""
    import logging

    from kpi_truth import truth

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(400, T0, prefix="old"))
    run_refresh(spark, settings)
    # Turn the stored histograms into version 1's field, as a store from before the upgrade has them.
    for coll in (names.KPI_MINUTES, names.KPI_STATE):
        mongo_db[coll].update_many({histogram.FIELD: {"$exists": True}}, {"$rename": {histogram.FIELD: "hist"}})
    since = T0 + timedelta(minutes=30)
    insert(mongo_db, make_records(300, since, prefix="new"))
    with caplog.at_level(logging.WARNING, logger="paylake.kpi.headline"):
        run_refresh(spark, settings)
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 700
    exact_new = truth(mongo_db, since, None)["latency_p95_exact"]
    assert snap.headlines["all"].latency_p95_ms == pytest.approx(exact_new, rel=histogram.MAX_ERROR)
    assert any("all 400 of 700" in r.message for r in caplog.records)
    old_minute = mongo_db[names.KPI_MINUTES].find_one({"minute": T0})
    assert old_minute is not None and "hist" in old_minute and histogram.FIELD not in old_minute
    totals_doc = mongo_db[names.KPI_STATE].find_one({"_id": totals.TOTALS_ID})
    assert totals_doc is not None and sum(totals_doc["hist"].values()) == 400
    assert sum(totals_doc[histogram.FIELD].values()) == 300


def assert_totals_match_buckets(db) -> None:  # type: ignore[no-untyped-def]
    """The totals document holds exactly the sum of every stored bucket."""
    kept = db[names.KPI_STATE].find_one({"_id": totals.TOTALS_ID})
    assert kept is not None
    stored, summed = totals.load(db), AllTime.of(buckets.load(db))
    assert (stored.first_minute, stored.end_minute) == (summed.first_minute, summed.end_minute)
    for name in buckets.SUMS:
        assert getattr(stored.sums, name) == pytest.approx(getattr(summed.sums, name)), name
    assert stored.sums.hist == summed.sums.hist and stored.sums.rules == summed.sums.rules
    assert stored.sums.revenue == pytest.approx(summed.sums.revenue)


@pytest.mark.parametrize("step", ["merge_partial", "merge"])
def test_crash_then_rerun_never_double_counts(spark, settings, mongo_db, redis_client, monkeypatch, step) -> None:  # type: ignore[no-untyped-def]
    from paylake.faults import FAULT_ENV, InjectedFault

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(60, T0 - timedelta(minutes=10), prefix="first"))
    run_refresh(spark, settings)  # from here on the totals document exists: the crash below may hit its update
    watermark = state.read_watermark(mongo_db)
    buckets_before = mongo_db[names.KPI_MINUTES].count_documents({})
    # Spread over 3 minutes plus late events: several buckets, so a partial merge leaves some applied.
    insert(mongo_db, make_records(180, T0, prefix="a"))
    late = make_records(20, T0 - timedelta(hours=3), prefix="late", ingest_delay=timedelta(hours=3, minutes=2))
    insert(mongo_db, late)
    monkeypatch.setenv(FAULT_ENV, step)
    with pytest.raises(InjectedFault):
        run_refresh(spark, settings)
    assert state.read_watermark(mongo_db) == watermark and state.read_pending(mongo_db) is not None
    assert mongo_db[names.KPI_MINUTES].count_documents({}) > buckets_before  # some (or all) buckets merged
    monkeypatch.delenv(FAULT_ENV)
    resumed = run_refresh(spark, settings)
    assert resumed.resumed and resumed.new_count == 200
    assert state.read_pending(mongo_db) is None
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 260
    check_snapshot(mongo_db, snap)
    assert_totals_match_buckets(mongo_db)
    # Every alert reached the recent list exactly once.
    recent = redis_client.lrange(names.ALERTS_RECENT, 0, -1)
    assert len(recent) == len(set(recent)) == min(mongo_db[names.ALERTS].count_documents({}), names.ALERTS_RECENT_MAX)


def test_redis_down_fails_clearly_and_next_run_republishes(spark, paylake_env, mongo_db, redis_client, capsys) -> None:  # type: ignore[no-untyped-def]
    from paylake.cli import main
    from paylake.kpi.publisher import KpiPublishError
    from paylake.stack.process import free_port

    settings = paylake_env
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(120, T0, prefix="a"))
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    with pytest.raises(KpiPublishError, match=f"Redis at {dead_url}"):
        run_refresh(spark, settings.with_overrides(redis_url=dead_url))
    assert state.read_watermark(mongo_db) is not None  # counted in MongoDB; only the publish failed

    redis_client.flushall()
    again = run_refresh(spark, settings)
    assert again.new_count == 0 and again.snapshot_version is not None
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 120
    check_snapshot(mongo_db, snap)
    assert redis_client.llen(names.ALERTS_RECENT) == min(mongo_db[names.ALERTS].count_documents({}), 200)
    assert main(["kpi", "show"]) == 0  # the CLI reads the same snapshot
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert rows["all"][0] == "120"


def test_a_second_refresh_while_one_holds_the_lock_does_nothing(spark, settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    from paylake.jobs import KPI_REFRESH
    from paylake.kpi.job import KpiBusyError
    from paylake.lock import job_lock

    insert(mongo_db, make_records(10, T0, prefix="a"))
    with job_lock(mongo_db, KPI_REFRESH), pytest.raises(KpiBusyError, match="another KPI refresh is running"):
        run_refresh(spark, settings)
    assert state.read_watermark(mongo_db) is None and state.read_pending(mongo_db) is None


def test_a_refresh_reads_only_the_customers_of_its_new_rows(spark, settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    seed_dimensions(mongo_db)  # C00000…C00049, spend_index 50/45; every category's median is 40
    mongo_db[names.CUSTOMERS].update_one({"_id": "C00001"}, {"$set": {"spend_index": 3.0}})
    insert(mongo_db, make_records(50, T0, prefix="old"))  # one row per customer, counted by the first run
    assert run_refresh(spark, settings).customers_read == 50

    # Two new rows of 200: above 4 × 40 × 50/45 for C00000, below 4 × 40 × 3.0 for C00001. The other 48
    # customers appear only in the lookback rows, which feed windows: they are not read.
    new = make_records(2, T0 + timedelta(minutes=5), prefix="new", amount=200.0, status="approved")
    new[0]["customer_id"], new[1]["customer_id"] = "C00000", "C00001"
    insert(mongo_db, new)
    second = run_refresh(spark, settings)
    assert (second.new_count, second.customers_read) == (2, 2)
    amount_alerts = {a["customer_id"] for a in mongo_db[names.ALERTS].find({"rules": "amount"})}
    assert amount_alerts == {"C00000"}


def test_a_long_backlog_is_counted_in_capped_refreshes_exactly_once(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client, monkeypatch
) -> None:
    """A refresh counts at most about ``job.MAX_NEW_ROWS`` new rows (the Spark server holds them in its heap):
    its range ends at the ingest time of the last it takes, rows sharing that instant included, and the next
    refresh goes on from there, with the same flags as one refresh would give (the lookback is read too).
    Refreshes of 60 rows or more compile their plan (``job.CODEGEN_ROWS``), the others interpret it."""
    from paylake.kpi import job

    monkeypatch.setattr(job, "CODEGEN_ROWS", 60)
    modes: list[bool] = []
    set_mode = job._code_generation
    monkeypatch.setattr(job, "_code_generation", lambda s, cache, on: modes.append(on) or set_mode(s, cache, on))
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(100, T0, prefix="old"))
    assert run_refresh(spark, settings).new_count == 100
    # 30 instants of 4 rows each: a cap of 50 ends at an instant whose 4 rows are all counted (52).
    backlog = [r for n in range(4) for r in make_records(30, T0 + timedelta(minutes=3), prefix=f"b{n}_")]
    insert(mongo_db, backlog)
    monkeypatch.setattr(job, "MAX_NEW_ROWS", 50)
    counts = []
    while (result := run_refresh(spark, settings)).new_count:
        counts.append(result.new_count)
    assert counts == [52, 52, 16]
    assert set(modes) == {True, False}, modes
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 220
    check_snapshot(mongo_db, snap)


def test_a_row_without_a_customer_is_counted_and_flags_nothing_of_its_own(spark, settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    """The rows reach Spark as local data, where a null in a required column fails the read unless every column
    is nullable: the connector let such a document through, and so must the job (its customer is unknown)."""
    seed_dimensions(mongo_db)
    records = make_records(5, T0, prefix="nocust")
    insert(mongo_db, records)
    mongo_db[names.TRANSACTIONS].update_one({"_id": records[0]["transaction_id"]}, {"$unset": {"customer_id": ""}})
    result = run_refresh(spark, settings)
    assert (result.new_count, result.customers_read) == (5, len({r["customer_id"] for r in records[1:]}))
