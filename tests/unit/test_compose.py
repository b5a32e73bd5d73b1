"""docker-compose.yml: pinned images, healthchecks, dependants wait for health, the variables the code reads."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import yaml

from paylake.ops import RULES_FILE
from paylake.settings import Settings
from paylake.stack.checkout import CHECKOUT
from paylake.stack.prometheus import JOB

COMPOSE = CHECKOUT / "docker-compose.yml"
APP_SERVICES = {"generator", "dashboard", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "exporter"}
REQUIRED_APP_VARS = {
    "PAYLAKE_MONGO_URI",
    "PAYLAKE_REDIS_URL",
    "PAYLAKE_COLD_URI",
    "PAYLAKE_WEBHDFS_URL",
    "PAYLAKE_SPARK_MASTER",
    "PAYLAKE_SPARK_REMOTE",
}


def _services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_every_service_has_a_pinned_image_or_build_and_a_healthcheck() -> None:
    for name, service in _services().items():
        image = service.get("image", "")
        assert "build" in service or re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"{name}: image not pinned"
        assert not image.endswith(":latest"), f"{name}: image uses :latest"
        assert "test" in service.get("healthcheck", {}), f"{name}: no healthcheck"


def test_dependants_wait_for_health() -> None:
    for name, service in _services().items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert rule["condition"] in {"service_healthy", "service_completed_successfully"}, (name, dependency)


def test_app_services_get_every_address_the_code_reads() -> None:
    known = {f"PAYLAKE_{f.name.upper()}" for f in dataclasses.fields(Settings)}
    for name in APP_SERVICES:
        env = _services()[name]["environment"]
        assert set(env) >= REQUIRED_APP_VARS, f"{name} lacks {REQUIRED_APP_VARS - set(env)}"
        unknown = {k for k in env if k.startswith("PAYLAKE_")} - known
        assert not unknown, f"{name} sets variables no code reads: {unknown}"


def test_prometheus_loads_the_packaged_rules_and_scrapes_the_exporter() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    prometheus, exporter = compose["services"]["prometheus"], compose["services"]["exporter"]
    mounted = {c["source"]: c["target"] for c in prometheus["configs"]}
    assert (CHECKOUT / compose["configs"]["prometheus-rules"]["file"]).resolve() == RULES_FILE
    assert f"--config.file={mounted['prometheus-config']}" in prometheus["command"]
    config = yaml.safe_load(compose["configs"]["prometheus-config"]["content"])
    assert config["rule_files"] == [mounted["prometheus-rules"]]
    [job] = config["scrape_configs"]
    assert job["job_name"] == JOB and job["static_configs"] == [{"targets": ["exporter:9108"]}]
    assert exporter["command"][-2:] == ["--address", "0.0.0.0"]  # reachable from the prometheus container


def test_no_secret_has_a_default() -> None:
    text = COMPOSE.read_text()
    assert "AIRFLOW_DB_PASSWORD:?" in text
    assert not re.search(r"PASSWORD:-", text), "a password has a default value"


def test_docker_compose_config_passes_where_the_client_exists() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        return  # no compose client on this machine: the structural checks above still ran
    done = subprocess.run(
        [docker, "compose", "-f", str(COMPOSE), "config", "-q"],
        capture_output=True,
        text=True,
        env={"AIRFLOW_DB_PASSWORD": "x", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
