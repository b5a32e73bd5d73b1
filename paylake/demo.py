"""`paylake demo up | down`: the whole pipeline on this machine, as `make demo` runs it.

Stack → dimensions → a quick CTGAN model when none exists → a week of history (demo_history) → generator in
the background → Airflow (standalone: scheduler, dag-processor, api-server, triggerer) with the DAGs unpaused
and the daily marts backfilled over the history → Streamlit.
Every process gets a pid file under the state dir, so `paylake demo down` stops exactly what `up` started.
"""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

from paylake import demo_history
from paylake.dashboard.commands import streamlit_argv
from paylake.generator import model
from paylake.settings import Settings, settings_env
from paylake.stack import manager
from paylake.stack.checkout import DAGS_DIR
from paylake.stack.process import Service, StackError
from paylake.webhook import wire

DEMO_HOT_MAX_MB = 8.0  # small, so archiving fires within a few minutes at the demo rate (~1.6 MB/min)
# Only slices wholly below the KPI watermark may move, and archiving runs every 5 minutes: with 5-minute
# slices ~9 MB stayed behind after each run, above the threshold; 2-minute slices get down to the low water.
DEMO_ARCHIVE_SLICE_MIN = 2
# Transactions per second: with PAYLAKE_CUSTOMERS' 500,000 customers, ~3.5 payments per customer per day.
DEMO_RATE = 20
# Fraud alerts go to the example receiver (`paylake alerts receiver`) unless PAYLAKE_ALERT_WEBHOOK is set:
# the demo shows the webhook end to end (~0.5 alerts/s); an empty PAYLAKE_ALERT_WEBHOOK turns it off.
DEMO_RECEIVER_PORT = 8999
DEMO_WEBHOOK = f"http://127.0.0.1:{DEMO_RECEIVER_PORT}/alerts"


def demo_settings(settings: Settings) -> Settings:
    """A small threshold and short archive slices, unless set explicitly in the environment."""
    if "PAYLAKE_HOT_MAX_MB" not in os.environ:
        settings = settings.with_overrides(hot_max_mb=DEMO_HOT_MAX_MB)
    if "PAYLAKE_ARCHIVE_SLICE_MIN" not in os.environ:
        settings = settings.with_overrides(archive_slice_min=DEMO_ARCHIVE_SLICE_MIN)
    if "PAYLAKE_ALERT_WEBHOOK" not in os.environ:
        settings = settings.with_overrides(alert_webhook=DEMO_WEBHOOK)
    return settings


def _paylake(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "paylake"), *args]


def _http_ok(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as resp:
        return bool(resp.status == 200)


def airflow_home(settings: Settings) -> Path:
    return settings.state_dir / "airflow"


def airflow_env(settings: Settings) -> dict[str, str]:
    home = airflow_home(settings)
    return {
        **settings_env(settings),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",  # the demo's DAGs run at once
        # A task killed by `make down` stays "running" in Airflow's DB and, with max_active_runs=1, holds its
        # DAG back after the next `make demo` until the scheduler declares it dead: make that one minute.
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "60",
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{settings.airflow_port}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def background_services(settings: Settings, rate: int = DEMO_RATE) -> list[Service]:
    run_dir = settings.state_dir / "run"
    env = settings_env(settings)
    generator = Service(
        "generator",
        _paylake("generate", "--rate", str(rate), "--duration", str(7 * 24 * 3600)),
        run_dir,
        [],
        lambda: True,
        f"{rate} transactions/s into {settings.mongo_uri}",
        env=env,
    )
    airflow = Service(
        "airflow",
        [str(Path(sys.executable).parent / "airflow"), "standalone"],
        run_dir,
        [settings.airflow_port],
        lambda: _http_ok(f"http://127.0.0.1:{settings.airflow_port}/api/v2/monitor/health"),
        f"http://127.0.0.1:{settings.airflow_port}",
        env=airflow_env(settings),
        start_timeout_s=240,
    )
    dashboard = Service(
        "dashboard",
        streamlit_argv(settings.dashboard_port),
        run_dir,
        [settings.dashboard_port],
        lambda: _http_ok(f"http://127.0.0.1:{settings.dashboard_port}/_stcore/health"),
        f"http://127.0.0.1:{settings.dashboard_port}",
        env=env,
        start_timeout_s=90,
    )
    # Prometheus (started with the stack) scrapes it; first, so its target is up before the others start.
    exporter = Service(
        "exporter",
        _paylake("metrics", "serve", "--port", str(settings.metrics_port)),
        run_dir,
        [settings.metrics_port],
        lambda: _http_ok(f"http://127.0.0.1:{settings.metrics_port}/metrics"),
        f"http://127.0.0.1:{settings.metrics_port}/metrics",
        env=env,
    )
    return [exporter, generator, *alert_services(settings, env), airflow, dashboard]


def alert_services(settings: Settings, env: dict[str, str]) -> list[Service]:
    """The deliverer when a webhook is set (alerts are queued only then), and the example receiver when the
    webhook is the demo's own."""
    if not settings.alert_webhook:
        return []
    run_dir = settings.state_dir / "run"
    deliverer = Service("alert-deliverer", _paylake("alerts", "deliver", "--follow"), run_dir, [], lambda: True,
                        f"alerts to {wire.shown(settings.alert_webhook)}", env=env)
    receiver = Service("alert-receiver", _paylake("alerts", "receiver", "--port", str(DEMO_RECEIVER_PORT)), run_dir,
                       [DEMO_RECEIVER_PORT], lambda: _http_ok(f"http://127.0.0.1:{DEMO_RECEIVER_PORT}/"), DEMO_WEBHOOK,
                       env=env)
    return [receiver, deliverer] if settings.alert_webhook == DEMO_WEBHOOK else [deliverer]


def _run_step(what: str, argv: list[str], settings: Settings, echo: Callable[[str], None]) -> None:
    echo(f"demo: {what}…")
    done = subprocess.run(argv, env={**os.environ, **settings_env(settings)})
    if done.returncode != 0:
        raise StackError(f"demo: {what} failed (exit {done.returncode}); see the output above")


def up(settings: Settings, echo: Callable[[str], None] = print) -> None:
    settings = demo_settings(settings)
    for status in manager.up(settings, echo):
        echo("  " + status.line)
    _run_step("seeding dimensions", _paylake("dimensions"), settings, echo)
    if not model.is_current(settings.model_file):  # none yet, or one an older paylake trained
        _run_step("training a quick CTGAN model (first run only)", _paylake("train", "--quick"), settings, echo)
    demo_history.seed_history(settings, _paylake(), {**os.environ, **settings_env(settings)}, echo)
    for service in background_services(settings):
        echo(f"demo: starting {service.name}…" if service.pid() is None else f"demo: {service.name} already runs")
        service.start()
    demo_history.backfill_marts(str(Path(sys.executable).parent / "airflow"), airflow_env(settings), echo)
    password_file = airflow_home(settings) / "simple_auth_manager_passwords.json.generated"
    echo(
        "\npaylake demo is running:\n"
        f"  dashboard   http://127.0.0.1:{settings.dashboard_port}\n"
        f"  Airflow UI  http://127.0.0.1:{settings.airflow_port}  (user admin; password in {password_file})\n"
        f"  MongoDB     {settings.mongo_uri}   Redis {settings.redis_url}   HDFS {settings.webhdfs_url}\n"
        f"  Prometheus  http://127.0.0.1:{settings.prometheus_port}  (metrics http://127.0.0.1:{settings.metrics_port}"
        "/metrics; alerts on /alerts)\n"
        f"  alerts      webhook {wire.shown(settings.alert_webhook) if settings.alert_webhook else 'off'}"
        f"{'  (the example receiver: alert-receiver.log)' if settings.alert_webhook == DEMO_WEBHOOK else ''}\n"
        f"  archive threshold {settings.hot_max_mb:g} MB (PAYLAKE_HOT_MAX_MB); logs in {settings.state_dir / 'run'}\n"
        "Stop everything with `make down`."
    )


def down(settings: Settings, echo: Callable[[str], None] = print) -> None:
    for service in reversed(background_services(demo_settings(settings))):  # the services `up` started
        echo(f"{service.name}: {'stopped' if service.stop() else 'was not running'}")
    manager.down(settings, echo)
