"""The packaged alert rules and the stack's generated Prometheus config, checked by Prometheus' own promtool:
`check rules`, `check config`, and `test rules` with series that must (and must not) fire each alert."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from paylake.ops import RULES_FILE
from paylake.settings import Settings
from paylake.stack.checkout import CHECKOUT
from paylake.stack.prometheus import binary, write_config

pytestmark = pytest.mark.integration

ALERTS = {
    "PaylakeKpiSnapshotStale", "PaylakeKpiWatermarkLagHigh", "PaylakeHotStoreOverThreshold", "PaylakeArchiveFailing",
    "PaylakeArchiveStuck", "PaylakeArchiveNotRunning", "PaylakeDeadLettersRising", "PaylakeGeneratorStopped",
    "PaylakeDataQualityGateFailed", "PaylakeExporterStoreDown", "PaylakeExporterDown", "PaylakeAlertWebhookBacklog",
}
TARGET = 'job="paylake",instance="127.0.0.1:9108"'
TARGET_LABELS = {"job": "paylake", "instance": "127.0.0.1:9108"}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], capture_output=True, text=True, timeout=60)


def _rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES_FILE.read_text())["groups"] for rule in group["rules"]]


def test_promtool_accepts_the_rules_and_rejects_a_broken_copy(tmp_path: Path) -> None:
    done = _promtool("check", "rules", str(RULES_FILE))
    assert done.returncode == 0 and f"SUCCESS: {len(ALERTS)} rules found" in done.stdout, done.stdout + done.stderr
    rules = _rules()
    assert {r["alert"] for r in rules} == ALERTS
    for rule in rules:  # what the README promises of each
        assert rule["for"] and rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
    broken = tmp_path / "broken.yml"
    broken.write_text(RULES_FILE.read_text().replace("_last_run_passed == 0", "_last_run_passed =="))  # no operand
    assert _promtool("check", "rules", str(broken)).returncode != 0


def test_promtool_accepts_the_generated_config(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, metrics_port=19108)
    config = write_config(settings)
    done = _promtool("check", "config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout  # it loaded the packaged rules
    parsed = yaml.safe_load(config.read_text())
    assert parsed["rule_files"] == [str(RULES_FILE)]
    assert parsed["scrape_configs"][0]["static_configs"][0]["targets"] == ["127.0.0.1:19108"]
    missing = write_config(settings, rules=tmp_path / "nowhere.yml")
    assert _promtool("check", "config", str(missing)).returncode != 0


def test_promtool_accepts_the_compose_files_config(tmp_path: Path) -> None:
    """docker-compose.yml's inline Prometheus config, its rules path pointed at the checkout's copy."""
    compose = yaml.safe_load((CHECKOUT / "docker-compose.yml").read_text())
    config = yaml.safe_load(compose["configs"]["prometheus-config"]["content"])
    config["rule_files"] = [str(RULES_FILE)]
    path = tmp_path / "compose-prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    done = _promtool("check", "config", str(path))
    assert done.returncode == 0 and f"SUCCESS: {len(ALERTS)} rules found" in done.stdout, done.stdout + done.stderr


def _series(name: str, values: str, **labels: str) -> dict[str, str]:
    extra = "".join(f',{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{TARGET}{extra}}}", "values": values}


def _fires(at: str, alert: str, *labels: dict[str, str]) -> dict[str, Any]:
    """An alert_rule_test: at ``at``, ``alert`` fires once per label set (none: it does not fire)."""
    return {"eval_time": at, "alertname": alert, "exp_alerts": [{"exp_labels": dict(extra)} for extra in labels]}


def _severity(alert: str) -> str:
    return next(str(r["labels"]["severity"]) for r in _rules() if r["alert"] == alert)


def _on_target(alert: str, **extra: str) -> dict[str, str]:
    return {**TARGET_LABELS, "severity": _severity(alert), **extra}


# Each case: input series sampled every 15 s (promtool's clock starts at 0 = the epoch, so time() is the
# evaluation time and timestamps are seconds from 0), and what fires when. Values: "a+bxN" is a, a+b, … N
# more steps; "axN" holds a.
STALE, LAG, HOT, FAILING = "PaylakeKpiSnapshotStale", "PaylakeKpiWatermarkLagHigh", "PaylakeHotStoreOverThreshold", \
    "PaylakeArchiveFailing"
CASES: dict[str, tuple[list[dict[str, str]], list[dict[str, Any]]]] = {
    # Published every ~7 s for 2 min, then not: the age passes 60 s at 3 m, fires 1 m later.
    "snapshot stops": (
        [_series("paylake_kpi_snapshot_age_seconds", "5x8 20+15x30"),
         _series("paylake_exporter_store_up", "1x40", store="redis")],
        [_fires("3m30s", STALE), _fires("4m", STALE, _on_target(STALE))],
    ),
    # Redis answers but holds no snapshot: stale (the alert has no target labels: absent() has none).
    "no snapshot": (
        [_series("paylake_exporter_store_up", "1x40", store="redis")],
        [_fires("30s", STALE), _fires("2m", STALE, {"severity": "critical"})],
    ),
    # No snapshot because Redis is down: PaylakeExporterStoreDown's case, not this one.
    "redis down": (
        [_series("paylake_exporter_store_up", "0x40", store="redis")],
        [_fires("5m", STALE)],
    ),
    "lag grows while transactions arrive": (
        [_series("paylake_kpi_watermark_lag_seconds", "12x4 27+15x40"),
         _series("paylake_generator_rate_per_second", "20x45")],
        [_fires("3m", LAG), _fires("5m", LAG, _on_target(LAG))],
    ),
    "lag grows because the generator stopped": (
        [_series("paylake_kpi_watermark_lag_seconds", "12x4 27+15x40"),
         _series("paylake_generator_rate_per_second", "20x4 0x40")],
        [_fires("5m", LAG)],
    ),
    "lag with another source (no generator metrics)": (
        [_series("paylake_kpi_watermark_lag_seconds", "12x4 27+15x40")],
        [_fires("5m", LAG, _on_target(LAG))],
    ),
    # 14 MB over an 8 MB threshold for 10 minutes, then a run gets it under: no alert; over 20 minutes: both
    # alerts (no batch completed since t=0, the threshold being 8 MB, the size 14 MB).
    "over the threshold, archived in time": (
        [_series("paylake_hot_store_bytes", "14e6x40 6e6x40"),
         _series("paylake_hot_store_threshold_bytes", "8e6x80"),
         _series("paylake_archive_last_success_timestamp_seconds", "0x80"),
         _series("paylake_archive_batches_total", "3x80")],
        [_fires("19m", HOT), _fires("19m", FAILING)],
    ),
    "over the threshold, archive failing": (
        [_series("paylake_hot_store_bytes", "14e6x200"),
         _series("paylake_hot_store_threshold_bytes", "8e6x200"),
         _series("paylake_archive_last_success_timestamp_seconds", "0x200"),
         _series("paylake_archive_batches_total", "3x200")],
        [_fires("14m", HOT), _fires("16m", HOT, _on_target(HOT)),
         _fires("39m", FAILING), _fires("41m", FAILING, _on_target(FAILING))],
    ),
    "over the threshold, never archived": (
        [_series("paylake_hot_store_bytes", "14e6x60"),
         _series("paylake_hot_store_threshold_bytes", "8e6x60"),
         _series("paylake_archive_batches_total", "0x60")],
        [_fires("9m", FAILING), _fires("11m", FAILING, _on_target(FAILING))],
    ),
    # Over the threshold but archiving succeeds (just not enough): the warning only.
    "over the threshold, archive succeeding": (
        [_series("paylake_hot_store_bytes", "14e6x200"),
         _series("paylake_hot_store_threshold_bytes", "8e6x200"),
         _series("paylake_archive_last_success_timestamp_seconds", "0+15x200"),
         _series("paylake_archive_batches_total", "1+1x200")],
        [_fires("45m", FAILING), _fires("45m", HOT, _on_target(HOT))],
    ),
    # Planned at 1m15s: 900 s old at 16m15s, firing 1 m later.
    "a batch stays unfinished": (
        [_series("paylake_archive_oldest_unfinished_age_seconds", "0x4 0+15x100")],
        [_fires("17m", "PaylakeArchiveStuck"), _fires("18m", "PaylakeArchiveStuck", _on_target("PaylakeArchiveStuck"))],
    ),
    "the archive DAG measures every 5 minutes": (
        [_series("paylake_hot_store_checked_timestamp_seconds", "0x19 300x19 600x19 900x19 1200x19 1500x19")],
        [_fires("29m", "PaylakeArchiveNotRunning")],
    ),
    "the archive DAG stops": (
        [_series("paylake_hot_store_checked_timestamp_seconds", "0x19 300x100")],
        [_fires("24m", "PaylakeArchiveNotRunning"),
         _fires("26m", "PaylakeArchiveNotRunning", _on_target("PaylakeArchiveNotRunning"))],
    ),
    # 20/s stored; 2 % dead-lettered fires, 0.5 % does not.
    "dead letters at 2 %": (
        [_series("paylake_generator_inserted_total", "0+300x80"),
         _series("paylake_generator_dead_lettered_total", "0+6x80")],
        [_fires("4m", "PaylakeDeadLettersRising"),
         _fires("12m", "PaylakeDeadLettersRising", _on_target("PaylakeDeadLettersRising"))],
    ),
    "dead letters at 0.5 %": (
        [_series("paylake_generator_inserted_total", "0+300x80"),
         _series("paylake_generator_dead_lettered_total", "0+1.5x80")],
        [_fires("12m", "PaylakeDeadLettersRising")],
    ),
    "nothing generated at all": (
        [_series("paylake_generator_inserted_total", "5x80"), _series("paylake_generator_dead_lettered_total", "0x80")],
        [_fires("12m", "PaylakeDeadLettersRising")],
    ),
    # Inserting until t=2m, then not: 2 minutes later the condition holds, 1 m after that it fires.
    "the generator stops": (
        [_series("paylake_generator_last_insert_timestamp_seconds", "0+15x8 120x40")],
        [_fires("4m30s", "PaylakeGeneratorStopped"),
         _fires("5m30s", "PaylakeGeneratorStopped", _on_target("PaylakeGeneratorStopped"))],
    ),
    "a gate run fails": (
        [_series("paylake_dq_last_run_passed", "1x10 0x10")],
        [_fires("2m", "PaylakeDataQualityGateFailed"),
         _fires("4m", "PaylakeDataQualityGateFailed", _on_target("PaylakeDataQualityGateFailed"))],
    ),
    # Delivered within seconds until 2m, then the receiver is down: 300 s old at 7m, firing 5 m after.
    "the webhook's receiver is down": (
        [_series("paylake_alert_webhook_oldest_queued_age_seconds", "0x8 0+15x60")],
        [_fires("11m", "PaylakeAlertWebhookBacklog"),
         _fires("13m", "PaylakeAlertWebhookBacklog", _on_target("PaylakeAlertWebhookBacklog"))],
    ),
    "mongodb unreadable": (
        [_series("paylake_exporter_store_up", "1x4 0x10", store="mongodb"),
         _series("paylake_exporter_store_up", "1x14", store="redis")],
        [_fires("3m", "PaylakeExporterStoreDown", _on_target("PaylakeExporterStoreDown", store="mongodb"))],
    ),
    "the exporter does not answer": (
        [{"series": f"up{{{TARGET}}}", "values": "1x4 0x10"}],
        [_fires("1m", "PaylakeExporterDown"),
         _fires("3m", "PaylakeExporterDown", _on_target("PaylakeExporterDown"))],
    ),
}


def _without_annotations(tmp_path: Path) -> Path:
    """The rules with their annotations left out, which promtool would otherwise compare too (their templates
    are checked by `check rules` and rendered in the test below); every expression, for: and label is kept."""
    doc = yaml.safe_load(RULES_FILE.read_text())
    for group in doc["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations")
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_each_alert_fires_when_it_should_and_only_then(tmp_path: Path) -> None:
    tests = [{"name": name, "interval": "15s", "input_series": series, "alert_rule_test": checks}
             for name, (series, checks) in CASES.items()]
    assert {check["alertname"] for _, checks in CASES.values() for check in checks} == ALERTS
    spec = {"rule_files": [str(_without_annotations(tmp_path))], "evaluation_interval": "15s", "tests": tests}
    path = tmp_path / "rules_test.yml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    done = _promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_stale_snapshot_alert_explains_itself(tmp_path: Path) -> None:
    """The real file, annotations included: both branches of the description's template."""
    summary = "The KPI snapshot in Redis is stale or missing"
    tail = "(the KPI loop republishes every ~7 s). Check the kpi_refresh DAG in Airflow and its task logs."
    cases = {
        "snapshot stops": (CASES["snapshot stops"][0], "4m", _on_target(STALE), "2m 5s old"),
        "no snapshot": (CASES["no snapshot"][0], "2m", {"severity": "critical"}, "missing"),
    }
    tests = [{"name": name, "interval": "15s", "input_series": series, "alert_rule_test": [{
        "eval_time": at, "alertname": STALE, "exp_alerts": [{"exp_labels": labels, "exp_annotations": {
            "summary": summary, "description": f"The snapshot the dashboard reads is {state} {tail}"}}]}]}
        for name, (series, at, labels, state) in cases.items()]
    path = tmp_path / "annotations_test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(RULES_FILE)], "evaluation_interval": "15s", "tests": tests}))
    done = _promtool("test", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
