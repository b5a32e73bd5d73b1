"""The exporter serves what the stores say: counters equal the jobs' own exactly-once figures, survive a restart
of the exporter, and do not move when a job is retried; a store that is down is reported, not zeroed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_records
from kpi_truth import insert, seed_dimensions
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from paylake import faults, inflight, names
from paylake.archive import size
from paylake.archive.job import run_archive
from paylake.generator.ingest import Counts
from paylake.generator.stats import StatsRecorder
from paylake.kpi.job import run_refresh
from paylake.marts import gates, results
from paylake.ops.metrics import StoreCollector

pytestmark = pytest.mark.integration
T0 = datetime(2026, 4, 6, 8, 0, tzinfo=UTC)


def scrape(settings: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """One scrape by a fresh exporter (a restart each time), parsed back from Prometheus' text format."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(settings))
    text = generate_latest(registry).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_counters_come_from_the_stores_and_a_retried_job_counts_once(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, redis_client, monkeypatch
) -> None:
    settings = settings.with_overrides(alert_webhook="http://127.0.0.1:9/alerts")  # nobody there: alerts queue up
    seed_dimensions(mongo_db)
    records = make_records(300, T0, step=timedelta(seconds=20), amount=400.0)  # 400 > 4 x 40 x 1.11: "amount"
    insert(mongo_db, records)
    recorder = StatsRecorder(mongo_db)
    assert recorder.flush(Counts(generated=303, inserted=300, dead_lettered=3), force=True)

    monkeypatch.setenv(faults.FAULT_ENV, "merge")  # a crash after merging: the redo must not count twice
    with pytest.raises(faults.InjectedFault):
        run_refresh(spark, settings)
    monkeypatch.delenv(faults.FAULT_ENV)
    run_refresh(spark, settings)
    run_archive(settings, max_mb=0.01)
    size.check(settings)
    results.record(mongo_db, "run-1", T0.date(), [gates.CheckResult("range_amount", "amount > 0", 2, ["a", "b"])])

    first = scrape(settings)
    assert value(first, "paylake_generator_inserted_total") == 300
    assert value(first, "paylake_generator_dead_lettered_total") == 3
    assert value(first, "paylake_kpi_transactions_counted_total") == 300
    assert value(first, "paylake_kpi_fraud_transactions_counted_total") == sum(r["is_fraud"] for r in records)
    assert value(first, "paylake_kpi_rule_fires_total", rule="amount") == 300
    assert value(first, "paylake_kpi_refreshes_total") >= 1
    manifest = list(mongo_db[names.ARCHIVE_MANIFEST].find({"state": "complete"}))
    assert manifest and value(first, "paylake_archive_batches_total") == len(manifest)
    assert value(first, "paylake_archive_rows_total") == sum(b["rows"] for b in manifest)
    assert value(first, "paylake_archive_unfinished_batches") == 0
    assert value(first, "paylake_hot_store_threshold_bytes") == pytest.approx(300 * size.MB)
    assert value(first, "paylake_dq_gate_runs_total", result="failed") == 1
    assert value(first, "paylake_dq_last_run_passed") == 0
    assert value(first, "paylake_dq_check_offending_rows", check="range_amount") == 2
    assert 0 <= value(first, "paylake_kpi_snapshot_age_seconds") < 120
    lag = (datetime.now(UTC) - max(r["ingest_time"] for r in records)).total_seconds()
    assert value(first, "paylake_kpi_watermark_lag_seconds") == pytest.approx(lag, abs=30)
    assert value(first, "paylake_exporter_store_up", store="mongodb") == 1
    assert value(first, "paylake_alert_webhook_queued") == mongo_db[names.ALERTS].count_documents({}) == 300
    assert value(first, "paylake_alert_webhook_oldest_queued_age_seconds") > 0
    assert value(first, "paylake_ingest_inflight_oldest_age_seconds") == 0
    inflight.entries(mongo_db).insert_one({"_id": "stalled", "opened": datetime.now(UTC) - timedelta(seconds=90)})
    assert value(scrape(settings), "paylake_ingest_inflight_oldest_age_seconds") == pytest.approx(90, abs=30)
    inflight.entries(mongo_db).delete_one({"_id": "stalled"})

    run_refresh(spark, settings)  # nothing new: the counters stay, in a restarted exporter too
    again = scrape(settings)
    for name in ("paylake_generator_inserted_total", "paylake_kpi_transactions_counted_total",
                 "paylake_archive_rows_total"):
        assert value(again, name) == value(first, name), name
    assert value(again, "paylake_kpi_refreshes_total") == value(first, "paylake_kpi_refreshes_total") + 1


def test_a_down_store_is_reported_and_its_figures_left_out(settings) -> None:  # type: ignore[no-untyped-def]
    down = settings.with_overrides(mongo_uri="mongodb://127.0.0.1:9", redis_url="redis://127.0.0.1:9/0")
    samples = scrape(down)
    assert value(samples, "paylake_exporter_store_up", store="mongodb") == 0
    assert value(samples, "paylake_exporter_store_up", store="redis") == 0
    assert not any(name.startswith(("paylake_kpi_", "paylake_generator_")) for name, _ in samples)
