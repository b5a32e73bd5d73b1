"""The daily marts over hot ∪ cold equal ground truth computed here from the raw rows; a re-run changes
nothing; every data-quality gate fires on its own seeded break and only there; a crash before or during
publishing leaves a whole version visible."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import marts_support as truth
import pytest
from marts_support import DAYS

from paylake import faults, names
from paylake.archive import query
from paylake.archive.job import run_archive
from paylake.cli import main
from paylake.marts import job, results, store, views

pytestmark = pytest.mark.integration


def published(settings: Any, mart: str, day: Any = None) -> list[dict[str, Any]]:
    found = views.mart_dataset(settings, mart)
    rows = found.to_table().to_pylist() if found is not None else []
    return [r for r in rows if day is None or r["date"] == day]


def _approx(value: float) -> Any:
    return pytest.approx(value, rel=1e-9, abs=1e-9)


def check_against_truth(settings: Any, db: Any, day: Any) -> None:
    rows = truth.lake_rows(settings, db)
    expected = truth.daily_summary(rows, db, day)
    summary = {r["category"]: r for r in published(settings, "daily_summary", day)}
    assert set(summary) == set(expected)
    for category, cell in expected.items():
        got = summary[category]
        for column, value in cell.items():
            assert got[column] == _approx(value), (day, category, column)
        assert got["fraud_rate"] == _approx(cell["fraud_count"] / cell["transactions"])
        precision = cell["flagged_fraud"] / cell["flagged"] if cell["flagged"] else None
        assert got["rule_precision"] == (None if precision is None else _approx(precision))
    merchants = {r["merchant_id"]: r for r in published(settings, "merchant_daily", day)}
    for merchant, cell in truth.merchant_daily(rows, day).items():
        for column, value in cell.items():
            assert merchants[merchant][column] == _approx(value), (day, merchant, column)
    assert len(merchants) == len(truth.merchant_daily(rows, day))
    hourly = {(r["weekday"], r["local_hour"]): r["transactions"] for r in published(settings, "hourly_patterns", day)}
    assert hourly == truth.hourly_patterns(rows, day)
    segments = {r["customer_id"]: r for r in published(settings, "customer_segments", day)}
    expected_segments = truth.customer_segments(rows, day, settings.marts_window_days)
    assert set(segments) == set(expected_segments)
    for customer, cell in expected_segments.items():
        for column, value in cell.items():
            assert segments[customer][column] == _approx(value), (day, customer, column)
    assert {r["rfm_segment"] for r in segments.values()} <= {name for name, _ in job.transforms.RFM_SEGMENTS}


def test_marts_equal_ground_truth_over_hot_and_cold_and_a_rerun_changes_nothing(  # type: ignore[no-untyped-def]
    settings, mongo_db, spark, redis_client, paylake_env, capsys
) -> None:
    records = truth.load(mongo_db)
    from paylake.kpi.state import write_watermark

    write_watermark(mongo_db, max(r["ingest_time"] for r in records))
    run_archive(settings, max_mb=0.15)  # the oldest hours go cold: the first date is read from both
    assert 0 < len(truth.cold_rows(settings)) < len(records)
    for day in DAYS:
        out = job.run(spark, settings, day)
        assert out.published and not out.failed_checks and out.fact_rows == sum(
            1 for r in records if r["event_time"].date() == day)
        check_against_truth(settings, mongo_db, day)

    before = {m: sorted(map(str, published(settings, m))) for m in store.MARTS}
    again = job.run(spark, settings, DAYS[1])
    assert again.published and again.run_id != out.run_id
    assert {m: sorted(map(str, published(settings, m))) for m in store.MARTS} == before, "a re-run changed a date"

    # The marts are views of `paylake query`; the history and the gate runs reach Redis for the dashboard.
    assert main(["query", "SELECT date, transactions FROM daily_summary WHERE category IS NULL ORDER BY date",
                 "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(r["date"], r["transactions"]) for r in shown] == [
        (d.isoformat(), sum(1 for r in records if r["event_time"].date() == d)) for d in DAYS]
    history = json.loads(redis_client.get(names.MARTS_HISTORY))
    assert [d["date"] for d in history["days"]] == [d.isoformat() for d in DAYS]
    assert history["top_merchants"]["date"] == DAYS[-1].isoformat() and history["segments"]["rows"]
    assert json.loads(redis_client.get(names.DQ_LAST))["passed"] is True
    assert redis_client.llen(names.DQ_RECENT) == len(DAYS) + 1


# Each break: (the check it must fail, the documents that break it). Each row breaks exactly one check.
def _breaks(good: dict[str, Any]) -> dict[str, dict[str, Any]]:
    def bad(tx: str, **fields: Any) -> dict[str, Any]:
        return {**good, "_id": tx, **fields}

    return {
        "not_null_customer_id": bad("x-null-customer", customer_id=None),
        "referential_merchant": bad("x-no-merchant", merchant_id="M99999"),
        "referential_customer": bad("x-no-customer", customer_id="C99999"),
        "range_amount": bad("x-negative", amount=-5.0),
        "range_latitude": bad("x-latitude", latitude=123.0),
        "range_latency_ms": bad("x-latency", latency_ms=-1.0),
        "accepted_status": bad("x-status", status="pending"),
        "accepted_currency": bad("x-currency", currency="XXX"),
        "accepted_channel": bad("x-channel", channel="fax"),
        "accepted_payment_method": bad("x-method", payment_method="cheque"),
    }


def test_each_gate_fails_on_its_own_break_and_nothing_is_published(  # type: ignore[no-untyped-def]
    settings, mongo_db, spark, redis_client, paylake_env
) -> None:
    records = truth.load(mongo_db)
    day = DAYS[0]
    good = mongo_db[names.TRANSACTIONS].find_one({"_id": "r000001"})
    good["event_time"] = datetime.combine(day, datetime.min.time(), UTC) + timedelta(hours=12)
    twin = {**good, "_id": "x-twin"}
    mongo_db[names.TRANSACTIONS].insert_one(twin)
    from paylake.kpi.state import write_watermark

    write_watermark(mongo_db, max(r["ingest_time"] for r in records))
    run_archive(settings, max_mb=1e-6)  # everything, the twin included, to cold, complete
    assert mongo_db[names.TRANSACTIONS].find_one({"_id": "x-twin"}) is None
    assert job.run(spark, settings, day).published  # the clean date passes every gate
    first = {m: sorted(map(str, published(settings, m, day))) for m in store.MARTS}

    breaks = _breaks(good)
    mongo_db[names.TRANSACTIONS].insert_many([*breaks.values(), twin])  # the twin back in hot: an id twice
    mongo_db[names.MERCHANTS].insert_one({"_id": "M77777", "name": "Nowhere", "category": "no-such-category",
                                          "country": "US", "commission_rate": 0.01})
    mongo_db[names.TRANSACTIONS].insert_one({**good, "_id": "x-category", "merchant_id": "M77777"})

    with pytest.raises(results.GateFailed) as failed:
        job.run(spark, settings, day)
    expected = {**{check: [doc["_id"]] for check, doc in breaks.items()},
                "referential_category": ["x-category"], "unique_transaction_id": ["x-twin"]}
    run = results.recent(mongo_db, 1)[0]
    got = {c["name"]: c["sample"] for c in run["checks"] if not c["passed"]}
    assert got == expected, "each break fails its own check, and only that one"
    assert all(c["count"] == (2 if c["name"] == "unique_transaction_id" else 1)
               for c in run["checks"] if not c["passed"])
    for check in expected:
        assert check in str(failed.value)
    assert {m: sorted(map(str, published(settings, m, day))) for m in store.MARTS} == first, "nothing published"
    assert not truth_staging(settings)
    last = json.loads(redis_client.get(names.DQ_LAST))
    assert last["passed"] is False and {c["name"] for c in last["checks"] if not c["passed"]} == set(expected)


def truth_staging(settings: Any) -> list[str]:
    from paylake.archive.coldfs import open_cold

    return open_cold(settings).list(store.STAGING)


def test_row_count_gate_fails_when_a_mart_loses_rows(  # type: ignore[no-untyped-def]
    settings, mongo_db, spark, monkeypatch, paylake_env
) -> None:
    truth.load(mongo_db)
    real = job.transforms.hourly_patterns
    monkeypatch.setattr(job.transforms, "hourly_patterns", lambda rows: real(rows.where("amount < 100")))
    with pytest.raises(results.GateFailed, match="row_count"):
        job.run(spark, settings, DAYS[0])
    run = results.recent(mongo_db, 1)[0]
    assert [c["name"] for c in run["checks"] if not c["passed"]] == ["row_count"]
    assert views.mart_dataset(settings, "daily_summary") is None


def test_a_crash_before_or_while_publishing_leaves_one_whole_version(  # type: ignore[no-untyped-def]
    settings, mongo_db, spark, monkeypatch, paylake_env
) -> None:
    records = truth.load(mongo_db)
    day = DAYS[0]
    job.run(spark, settings, day)
    count = sum(1 for r in records if r["event_time"].date() == day)
    late = [{**truth.schema.to_mongo(r), "_id": f"late{i}"} for i, r in enumerate(records[:40])
            if r["event_time"].date() == day]
    mongo_db[names.TRANSACTIONS].insert_many(late)

    def totals() -> dict[str, int]:
        return {"daily_summary": sum(r["transactions"] for r in published(settings, "daily_summary", day)
                                     if r["category"] is None),
                "merchant_daily": sum(r["transactions"] for r in published(settings, "merchant_daily", day)),
                "hourly_patterns": sum(r["transactions"] for r in published(settings, "hourly_patterns", day))}

    monkeypatch.setenv(faults.FAULT_ENV, "gates")  # staged and gated, not published
    with pytest.raises(faults.InjectedFault):
        job.run(spark, settings, day)
    assert set(totals().values()) == {count}, "the previous version stays visible"

    monkeypatch.setenv(faults.FAULT_ENV, "publish_partial")  # one mart replaced, then the crash
    with pytest.raises(faults.InjectedFault):
        job.run(spark, settings, day)
    monkeypatch.delenv(faults.FAULT_ENV)
    out = job.run(spark, settings, DAYS[1])  # any later run rolls the crashed publish forward first
    assert out.recovered == [day.isoformat()]
    assert set(totals().values()) == {count + len(late)}
    assert query.run_duckdb(settings, "SELECT count(*) FROM daily_summary WHERE category IS NULL")[1] == [(2,)]
