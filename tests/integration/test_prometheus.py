"""A real Prometheus, started as the stack starts it (paylake/stack/prometheus.py) on free ports, scraping a real
`paylake metrics serve` process over the test stores: every metric family the exporter serves reaches
Prometheus' query API, the packaged rules evaluate on them, and a KPI snapshot no longer refreshed makes the
staleness alert go pending, then firing (its real expression, with a short threshold and `for:`)."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import make_records
from kpi_truth import insert, seed_dimensions
from prometheus_client.parser import text_string_to_metric_families

from paylake import names
from paylake.archive import manifest, size
from paylake.archive.plan import Batch
from paylake.clock import now
from paylake.dashboard.sample import build_snapshot
from paylake.generator.ingest import Counts
from paylake.generator.stats import StatsRecorder
from paylake.kpi import snapshot
from paylake.kpi.job import run_refresh
from paylake.kpi.rules import RULES
from paylake.marts.gates import CheckResult
from paylake.marts.results import record as record_gate_run
from paylake.ops import RULES_FILE
from paylake.settings import Settings, settings_env
from paylake.stack.process import Service, free_port, wait_until
from paylake.stack.prometheus import api_url, prometheus_service

pytestmark = pytest.mark.integration

INTERVAL_S = 1.0  # scrape and rule evaluation, for the tests (the stack's is 5 s)
# Every sample name the exporter serves for a store holding data of every kind (paylake/ops/metrics.py).
SERVED = {f"paylake_{name}" for name in (
    "generator_inserted_total", "generator_dead_lettered_total", "generator_failed_total",
    "generator_duplicate_total", "generator_rate_per_second", "generator_last_insert_timestamp_seconds",
    "ingest_inflight_oldest_age_seconds",
    "kpi_watermark_lag_seconds", "kpi_refresh_duration_seconds", "kpi_refreshes_total",
    "kpi_transactions_counted_total", "kpi_fraud_transactions_counted_total", "kpi_rule_fires_total",
    "hot_store_bytes", "hot_store_threshold_bytes", "hot_store_low_water_bytes", "hot_store_checked_timestamp_seconds",
    "kpi_snapshot_age_seconds", "archive_batches_total", "archive_rows_total", "archive_bytes_total",
    "archive_unfinished_batches", "archive_last_success_timestamp_seconds", "archive_oldest_unfinished_age_seconds",
    "dq_gate_runs_total", "dq_last_run_passed", "dq_last_run_timestamp_seconds", "dq_check_offending_rows",
    "alert_webhook_queued", "alert_webhook_oldest_queued_age_seconds", "exporter_store_up",
)}
# Set (as `make demo` sets it), the webhook makes the KPI job queue its alerts and the exporter serve the queue;
# nothing listens there: nothing is delivered, the queue stays as the job left it.
WEBHOOK = "http://127.0.0.1:9/alerts"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return bytes(resp.read())


def _api(prometheus: str, path: str, **params: str) -> Any:
    answer = json.loads(_get(f"{prometheus}/api/v1/{path}?{urllib.parse.urlencode(params)}"))
    assert answer["status"] == "success", answer
    return answer["data"]


@pytest.fixture
def exporter(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """`paylake metrics serve` (as `make demo` runs it) on a free port, reading the test's stores."""
    served = settings.with_overrides(metrics_port=free_port(), alert_webhook=WEBHOOK)
    url = f"http://127.0.0.1:{served.metrics_port}/metrics"
    service = Service("exporter", [str(Path(sys.executable).parent / "paylake"), "metrics", "serve", "--port",
                                   str(served.metrics_port)],
                      tmp_path / "run", [served.metrics_port], lambda: bool(_get(url)), url, env=settings_env(served))
    service.start()
    try:
        yield served
    finally:
        service.stop()


def start_prometheus(exporter: Settings, tmp_path: Path, rules: Path = RULES_FILE) -> tuple[Service, str]:
    """The stack's Prometheus service on a free port in ``tmp_path``, scraping ``exporter`` every second;
    the service and its URL."""
    own = exporter.with_overrides(state_dir=tmp_path / "prometheus-state", prometheus_port=free_port())
    service = prometheus_service(own, tmp_path / "run", rules=rules, interval_s=INTERVAL_S)
    service.start()
    return service, api_url(own)


def _fill_stores(settings: Settings, spark: Any, db: Any) -> None:
    """Data of every kind, written by the jobs themselves (the KPI refresh, the archive's size check) or with
    the functions they write with (generator stats, the archive manifest, a gate run)."""
    seed_dimensions(db)
    insert(db, make_records(240, T0) + make_records(5, T0 + timedelta(minutes=5), prefix="big", amount=5000.0))
    run_refresh(spark, settings)  # watermark, all-time totals, last refresh, the snapshot in Redis
    size.check(settings)  # the hot store's size in Redis, as the archive DAG measures it
    StatsRecorder(db).flush(Counts(generated=245, inserted=240, duplicate=1, dead_lettered=3, failed=1), force=True)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, state in enumerate(("complete", "planned")):
        batch = Batch(f"b{i}", start + timedelta(hours=i), start + timedelta(hours=i + 1), 100)
        manifest.create(db, batch, start + timedelta(days=1))
        if state == "complete":
            manifest.advance(db, batch.batch_id, "complete", rows=100, bytes=4096)
    record_gate_run(db, "run-1", date(2025, 12, 31), [CheckResult("unique_id", "ids are unique", 0)])
    time.sleep(0.01)  # finished_at is stored in milliseconds: the failed run must be the last one
    record_gate_run(db, "run-2", date(2026, 1, 1), [CheckResult("unique_id", "ids are unique", 0),
                                                    CheckResult("not_null", "no nulls", 2, ["tx1", "tx2"])])


TARGET_LABELS = ("__name__", "job", "instance")


def _values(prometheus: str, query: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The query's result: value by the series' own labels (the name and the target's left out)."""
    result = _api(prometheus, "query", query=query)["result"]
    return {tuple(sorted((k, v) for k, v in r["metric"].items() if k not in TARGET_LABELS)): float(r["value"][1])
            for r in result}


def test_prometheus_holds_every_family_the_exporter_serves(  # type: ignore[no-untyped-def]
    spark, mongo_db, exporter, tmp_path
) -> None:
    _fill_stores(exporter, spark, mongo_db)
    text = _get(f"http://127.0.0.1:{exporter.metrics_port}/metrics").decode()
    served = {s.name for f in text_string_to_metric_families(text) for s in f.samples if s.name.startswith("paylake_")}
    assert served == SERVED

    prometheus, url = start_prometheus(exporter, tmp_path)
    try:
        query = '{__name__=~"paylake_.+", job="paylake"}'
        found: set[str] = set()

        def scraped() -> bool:
            found.update(r["metric"]["__name__"] for r in _api(url, "query", query=query)["result"])
            return found >= SERVED

        wait_until(scraped, 30, "Prometheus holding every paylake_* family")
        assert found == SERVED
        # Values as the stores hold them, labels included.
        assert _values(url, "paylake_kpi_transactions_counted_total") == {(): 245.0}
        assert _values(url, "paylake_kpi_fraud_transactions_counted_total") == {(): 25.0}  # every 10th
        assert set(_values(url, "paylake_kpi_rule_fires_total")) == {(("rule", r),) for r in RULES}
        assert _values(url, "paylake_generator_dead_lettered_total") == {(): 3.0}
        assert _values(url, "paylake_archive_rows_total") == {(): 100.0}
        assert _values(url, "paylake_archive_unfinished_batches") == {(): 1.0}
        assert _values(url, "paylake_dq_gate_runs_total") == {(("result", "passed"),): 1.0,
                                                              (("result", "failed"),): 1.0}
        assert _values(url, "paylake_dq_check_offending_rows") == {(("check", "unique_id"),): 0.0,
                                                                   (("check", "not_null"),): 2.0}
        alerts = mongo_db[names.ALERTS].count_documents({})  # the amount rule flags the 5 big ones at least
        assert alerts >= 5 and _values(url, "paylake_alert_webhook_queued") == {(): float(alerts)}
        assert _values(url, "paylake_exporter_store_up") == {(("store", "mongodb"),): 1.0, (("store", "redis"),): 1.0}
        assert _values(url, "up") == {(): 1.0}
        _check_rules_evaluate(url)
    finally:
        prometheus.stop()


def _check_rules_evaluate(url: str) -> None:
    """The packaged rules run without error on the real metrics; the failed gate run is noticed (pending: its
    `for:` is a minute), and nothing that is healthy here is alerting."""
    packaged = [r for g in yaml.safe_load(RULES_FILE.read_text())["groups"] for r in g["rules"]]

    def evaluated() -> bool:
        rules = [r for g in _api(url, "rules")["groups"] for r in g["rules"]]
        return len(rules) == len(packaged) and all(r.get("lastEvaluation", "0001").startswith("20") for r in rules)

    wait_until(evaluated, 15, "every rule evaluated")
    for rule in (r for g in _api(url, "rules")["groups"] for r in g["rules"]):
        assert rule["health"] == "ok", rule
    wait_until(lambda: any(a["labels"]["alertname"] == "PaylakeDataQualityGateFailed"
                           for a in _api(url, "alerts")["alerts"]), 10, "the gate alert pending")
    active = {a["labels"]["alertname"]: a["state"] for a in _api(url, "alerts")["alerts"]}
    assert active["PaylakeDataQualityGateFailed"] == "pending"
    healthy = {"PaylakeKpiSnapshotStale", "PaylakeGeneratorStopped", "PaylakeArchiveStuck", "PaylakeExporterDown",
               "PaylakeExporterStoreDown", "PaylakeHotStoreOverThreshold", "PaylakeArchiveNotRunning"}
    assert not healthy & set(active), active


STALE = "PaylakeKpiSnapshotStale"


def _short_staleness_rules(tmp_path: Path, threshold_s: int, for_s: int) -> Path:
    """The packaged rules with the staleness alert's threshold and `for:` shortened: the expression is the real one."""
    doc = yaml.safe_load(RULES_FILE.read_text())
    rule = next(r for g in doc["groups"] for r in g["rules"] if r["alert"] == STALE)
    real = "paylake_kpi_snapshot_age_seconds > 60"
    assert real in rule["expr"] and rule["for"] == "1m", "the test no longer matches the rule: update both"
    rule["expr"] = rule["expr"].replace(real, f"paylake_kpi_snapshot_age_seconds > {threshold_s}")
    rule["for"] = f"{for_s}s"
    path = tmp_path / "rules-short.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


class Refresher:
    """Stands in for the KPI loop: republishes a snapshot, with the job's own writer, every half second."""

    def __init__(self, redis_client: Any) -> None:
        self.client, self.stopping = redis_client, threading.Event()
        self.base = build_snapshot(now(), minutes=60)
        self.publish()  # before Prometheus' first scrape: a missing snapshot is stale too
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def publish(self) -> None:
        moment = now()
        snapshot.publish(self.client, replace(self.base, version=snapshot.new_version(moment),
                                              published_at=moment.isoformat()))

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            self.publish()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(5)


def _stale_state(url: str) -> str:
    states = [a["state"] for a in _api(url, "alerts")["alerts"] if a["labels"]["alertname"] == STALE]
    return states[0] if states else "inactive"


def test_stopping_the_kpi_job_makes_the_staleness_alert_pend_then_fire(  # type: ignore[no-untyped-def]
    redis_client, exporter, tmp_path
) -> None:
    threshold_s, for_s = 3, 3
    refresher = Refresher(redis_client)
    prometheus, url = start_prometheus(exporter, tmp_path, _short_staleness_rules(tmp_path, threshold_s, for_s))
    try:
        wait_until(lambda: bool(_values(url, "paylake_kpi_snapshot_age_seconds")), 15, "the snapshot's age scraped")
        # While it refreshes, through more evaluations than threshold + for: the alert stays inactive.
        deadline = time.monotonic() + threshold_s + for_s + 2 * INTERVAL_S
        while time.monotonic() < deadline:
            assert _stale_state(url) == "inactive"
            assert _values(url, "paylake_kpi_snapshot_age_seconds")[()] < threshold_s
            time.sleep(0.5)

        refresher.stop()  # the KPI job stops: nothing republishes the snapshot any more
        stopped, seen = time.monotonic(), {}

        def fired() -> bool:
            state = _stale_state(url)
            seen.setdefault(state, time.monotonic() - stopped)
            return state == "firing"

        wait_until(fired, 30, "the staleness alert firing", interval_s=0.2)
        # Pending once the age passes the threshold (give or take the last publish, a scrape and an evaluation),
        # firing `for:` later (give or take an evaluation and this loop's polling).
        assert "pending" in seen, seen
        assert threshold_s - 1 <= seen["pending"] <= threshold_s + 4 * INTERVAL_S, seen
        assert for_s - INTERVAL_S <= seen["firing"] - seen["pending"] <= for_s + 3 * INTERVAL_S, seen
        alert = next(a for a in _api(url, "alerts")["alerts"] if a["labels"]["alertname"] == STALE)
        assert alert["labels"]["severity"] == "critical" and "old" in alert["annotations"]["description"]
    finally:
        refresher.stop()
        prometheus.stop()
