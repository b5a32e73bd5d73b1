"""A reading of the stores as Prometheus metric families (pure: Reading in, families out), and the collector
that takes a fresh reading on every scrape.

Naming follows Prometheus' conventions: prefix ``paylake_``, base units in names (``_seconds``,
``_bytes``), ``_total`` for counters, labels of bounded cardinality (rule: 4 values, check: the gates',
store: 2). A figure whose store is down is left out (not reported as 0), and ``paylake_exporter_store_up``
says which store is down.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from paylake.archive.size import MB
from paylake.clock import as_utc
from paylake.ops import readings
from paylake.ops.readings import Reading
from paylake.settings import Settings

GENERATOR_RATE_STALE_S = 30.0  # a rate not refreshed for this long is a stopped generator: report 0


def _counter(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


def _stamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def generator(r: Reading) -> Iterator[Metric]:
    g = r.generator
    if not r.mongo_up:
        return
    for field, doc in (("inserted", "transactions stored in the hot store"),
                       ("dead_lettered", "malformed records kept in dead_letter with their reasons"),
                       ("failed", "records the generator could not store (spilled to a file)"),
                       ("duplicate", "records whose id was already stored")):
        yield from _counter(f"paylake_generator_{field}_total", f"Generator: {doc}.", float(g.get(field, 0)))
    updated = as_utc(g.get("updated_at"))
    fresh = updated is not None and (r.at - updated).total_seconds() < GENERATOR_RATE_STALE_S
    yield from _gauge("paylake_generator_rate_per_second", "Generator: transactions stored per second, now.",
                      float(g.get("rate_per_s", 0.0)) if fresh else 0.0)
    yield from _gauge("paylake_generator_last_insert_timestamp_seconds", "Generator: when it last stored one.",
                      _stamp(as_utc(g.get("last_insert_at"))))
    # An insert open for long holds the KPI watermark below it (paylake/inflight.py): a stalled or dead writer.
    yield from _gauge("paylake_ingest_inflight_oldest_age_seconds",
                      "Ingest: age of the oldest insert still in flight (0: none); KPI ranges end below it.",
                      (r.at - r.inflight_since).total_seconds() if r.inflight_since else 0.0)


def kpi(r: Reading) -> Iterator[Metric]:
    if not r.mongo_up:
        return
    lag = (r.at - r.watermark).total_seconds() if r.watermark else None
    yield from _gauge("paylake_kpi_watermark_lag_seconds", "KPI: now minus the newest ingest time counted.", lag)
    yield from _gauge("paylake_kpi_refresh_duration_seconds", "KPI: duration of the last refresh.",
                      r.last_refresh.get("seconds"))
    yield from _counter("paylake_kpi_refreshes_total", "KPI: refreshes done.", r.last_refresh.get("refreshes"))
    yield from _counter("paylake_kpi_transactions_counted_total", "KPI: transactions counted, exactly once.",
                        r.counted)
    yield from _counter("paylake_kpi_fraud_transactions_counted_total", "KPI: counted transactions labelled fraud.",
                        r.fraud_counted)
    if r.rule_fires:
        fires = CounterMetricFamily("paylake_kpi_rule_fires_total", "KPI: transactions each fraud rule flagged.",
                                    labels=["rule"])
        for rule, n in sorted(r.rule_fires.items()):
            fires.add_metric([rule], n)
        yield fires


def hot_store(r: Reading) -> Iterator[Metric]:
    h = r.hot
    for key, name, doc in (("data_mb", "paylake_hot_store_bytes", "the hot fact collection's data size"),
                           ("threshold_mb", "paylake_hot_store_threshold_bytes", "the archive threshold"),
                           ("low_water_mb", "paylake_hot_store_low_water_bytes", "the archive's low-water mark")):
        if key in h:
            yield from _gauge(name, f"Hot store: {doc} (as last measured by the archive DAG).", float(h[key]) * MB)
    if "checked_at" in h:
        yield from _gauge("paylake_hot_store_checked_timestamp_seconds", "Hot store: when its size was measured.",
                          datetime.fromisoformat(h["checked_at"]).timestamp())
    yield from _gauge("paylake_kpi_snapshot_age_seconds", "KPI: age of the snapshot the dashboard reads (Redis).",
                      (r.at - r.snapshot_published_at).total_seconds() if r.snapshot_published_at else None)


def archive(r: Reading) -> Iterator[Metric]:
    a = r.archive
    if not r.mongo_up:
        return
    yield from _counter("paylake_archive_batches_total", "Archive: batches moved to cold storage (complete).",
                        a["batches"])
    yield from _counter("paylake_archive_rows_total", "Archive: transactions moved to cold storage.", a["rows"])
    yield from _counter("paylake_archive_bytes_total", "Archive: Parquet bytes written to cold storage.", a["bytes"])
    yield from _gauge("paylake_archive_unfinished_batches", "Archive: batches not complete (a run resumes them).",
                      a["unfinished"])
    yield from _gauge("paylake_archive_last_success_timestamp_seconds", "Archive: when a batch last completed.",
                      _stamp(a["last_success"]))
    oldest = a["oldest_unfinished"]
    yield from _gauge("paylake_archive_oldest_unfinished_age_seconds", "Archive: age of the oldest unfinished batch.",
                      (r.at - oldest).total_seconds() if oldest else 0.0)


def gates(r: Reading) -> Iterator[Metric]:
    if not r.mongo_up:
        return
    runs = CounterMetricFamily("paylake_dq_gate_runs_total", "Data quality: gate runs by result.", labels=["result"])
    for result in ("passed", "failed"):
        runs.add_metric([result], r.gates.get(result, 0))
    yield runs
    last = r.gates.get("last")
    if not last:
        return
    yield from _gauge("paylake_dq_last_run_passed", "Data quality: 1 when the last gate run passed, else 0.",
                      1.0 if last.get("passed") else 0.0)
    yield from _gauge("paylake_dq_last_run_timestamp_seconds", "Data quality: when the last gate run finished.",
                      _stamp(as_utc(last.get("finished_at"))))
    failed = GaugeMetricFamily("paylake_dq_check_offending_rows", "Data quality: offending rows per check, last run.",
                               labels=["check"])
    for check in last.get("checks", []):
        failed.add_metric([str(check["name"])], float(check["count"]))
    yield failed


def webhook(r: Reading) -> Iterator[Metric]:
    if not r.mongo_up or not r.webhook:
        return
    oldest = r.webhook["oldest"]
    yield from _gauge("paylake_alert_webhook_queued", "Alerts: fraud alerts waiting for the webhook.",
                      float(r.webhook["queued"]))
    yield from _gauge("paylake_alert_webhook_oldest_queued_age_seconds", "Alerts: age of the oldest undelivered one.",
                      (r.at - oldest).total_seconds() if oldest else 0.0)


def health(r: Reading) -> Iterator[Metric]:
    up = GaugeMetricFamily("paylake_exporter_store_up", "1 when the exporter could read the store.", labels=["store"])
    up.add_metric(["mongodb"], 1.0 if r.mongo_up else 0.0)
    up.add_metric(["redis"], 1.0 if r.redis_up else 0.0)
    yield up


def families(r: Reading) -> Iterator[Metric]:
    for part in (generator, kpi, hot_store, archive, gates, webhook, health):
        yield from part(r)


class StoreCollector(Collector):
    """Reads the stores on every scrape (a few small queries; Prometheus scrapes every 15 s by default)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Metric]:
        yield from families(readings.read(self.settings))
