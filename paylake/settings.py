"""The one settings object: every address, path and threshold, read from ``PAYLAKE_*`` variables.

Defaults work on 127.0.0.1 with the stack that ``paylake stack up`` starts. Secrets have no defaults:
credentials go inside ``PAYLAKE_MONGO_URI`` / ``PAYLAKE_REDIS_URL`` when a deployment needs them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from paylake.errors import UsageError


def default_state_dir() -> Path:
    """Where state goes unless PAYLAKE_STATE_DIR says otherwise: the user's XDG state directory, which any
    install can write (the checkout's Makefile points it at .state/)."""
    return Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state") / "paylake"


class SettingsError(UsageError, ValueError):
    """A PAYLAKE_* variable holds a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    state_dir: Path = field(default_factory=default_state_dir)
    mongo_uri: str = "mongodb://127.0.0.1:27017"
    mongo_db: str = "paylake"
    redis_url: str = "redis://127.0.0.1:6379/0"
    cold_uri: str = "hdfs://127.0.0.1:9000/paylake"
    webhdfs_url: str = "http://127.0.0.1:9870"
    hdfs_user: str = "paylake"
    # DataNode ports (data transfer, http, ipc); only the local stack uses them.
    hdfs_datanode_ports: tuple[int, int, int] = (9866, 9864, 9867)
    # Jobs run as clients of this Spark Connect server (the stack starts one; no JVM start per run). "off":
    # each job starts its own SparkSession on ``spark_master`` (local[*] or a standalone spark://… master).
    spark_remote: str = "sc://127.0.0.1:15002"
    spark_master: str = "local[*]"
    spark_shuffle_partitions: int = 4
    # The MongoDB Spark connector jars (`make setup` fetches them into the checkout's jars/lib). Needed where
    # a SparkSession is started: by the Spark Connect server, or by jobs when ``spark_remote`` is empty.
    jars_dir: Path | None = None
    hot_max_mb: float = 300.0
    # The customers dimension: 500,000 customers make ~3.5 transactions a day each at the demo's 20 tx/s
    # (a card makes a few a day; 5,000 customers made 14 an hour and tripped the velocity rule by density).
    customers: int = 500_000
    hot_low_water: float = 0.8
    # The archive moves whole event-time slices of this many minutes (must divide a day); the demo's are short.
    archive_slice_min: int = 60
    kpi_lateness_s: float = 5.0
    # A writer's in-flight insert holds the KPI bound below its stamp (paylake/inflight.py) for at most this
    # long; older, the writer is taken for dead (one on this host is checked by its pid at once).
    ingest_fence_max_s: float = 300.0
    # customer_segments (the daily marts) looks back this many days, read with each date: a date's build
    # reads window_days of transactions whatever the history's length (bench/marts.py).
    marts_window_days: int = 7
    # The kpi_refresh task refreshes in a loop, one refresh at least this often (seconds), until the next run
    # is due or for at most kpi_loop_s seconds. CPU follows the refresh rate, the age of the newest counted
    # transaction is about lateness + period + one refresh: 7 s keeps that age's p95 ~12 s (bench/freshness.py).
    kpi_period_s: float = 7.0
    kpi_loop_s: float = 300.0
    model_path: Path | None = None
    airflow_port: int = 8080
    metrics_port: int = 9108  # `paylake metrics serve`, scraped by Prometheus
    prometheus_port: int = 9090  # the stack's Prometheus; 0: the stack starts none (tests' private stacks)
    dashboard_port: int = 8501
    dashboard_refresh_s: float = 5.0
    # The dashboard warns when the KPI snapshot is older than this: the loop publishes every few seconds, and
    # the gap between one kpi_refresh run and the next (task start-up) stays well under a minute.
    dashboard_stale_s: float = 60.0
    # Fraud alerts are also POSTed here (http:// or https://; empty = off): the KPI job queues each new alert
    # on its own document and `paylake alerts deliver` sends them, at most alert_batch_max per request.
    alert_webhook: str = ""
    alert_batch_max: int = 100

    @property
    def model_file(self) -> Path:
        return self.model_path or self.state_dir / "models" / "ctgan.pkl"

    @property
    def spark_connect_url(self) -> str | None:
        """The Spark Connect server jobs use, or None when they start their own session."""
        return None if self.spark_remote in ("", "off") else self.spark_remote

    @property
    def spark_connect_address(self) -> tuple[str, int]:
        """(host, port) of ``spark_remote`` (sc://host:port, 15002 by default)."""
        where = urlparse(self.spark_remote.replace("sc://", "http://", 1))
        return where.hostname or "127.0.0.1", where.port or 15002

    @property
    def spark_connect_port(self) -> int:
        return self.spark_connect_address[1]

    @property
    def mongo_port(self) -> int:
        return urlparse(self.mongo_uri).port or 27017

    @property
    def redis_port(self) -> int:
        return urlparse(self.redis_url).port or 6379

    @property
    def namenode_port(self) -> int:
        return urlparse(self.cold_uri).port or 9000

    @property
    def webhdfs_port(self) -> int:
        return urlparse(self.webhdfs_url).port or 9870

    @property
    def cold_is_hdfs(self) -> bool:
        return self.cold_uri.startswith("hdfs://")

    @property
    def cold_path(self) -> str:
        """The archive root as a path inside its filesystem (``/paylake`` for hdfs://…/paylake)."""
        return urlparse(self.cold_uri).path.rstrip("/") or "/"

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _convert(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in {"1", "true", "yes", "on"}
        if isinstance(default, tuple):
            return tuple(int(part) for part in raw.split(","))
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, Path) or name in {"model_path", "state_dir", "jars_dir"}:
            return Path(raw).expanduser().resolve()
    except ValueError as exc:
        raise SettingsError(f"PAYLAKE_{name.upper()}={raw!r} is not valid: {exc}") from exc
    return raw


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build Settings from ``PAYLAKE_<FIELD>`` variables; unset ones keep their defaults."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for item in fields(Settings):
        raw = env.get(f"PAYLAKE_{item.name.upper()}")
        if raw is not None and raw != "":
            values[item.name] = _convert(item.name, raw, None if item.default is MISSING else item.default)
    settings = Settings(**values)
    _check(settings)
    return settings


def _check(settings: Settings) -> None:
    if not settings.mongo_uri.startswith(("mongodb://", "mongodb+srv://")):
        raise SettingsError(f"PAYLAKE_MONGO_URI must start with mongodb://, got {settings.mongo_uri!r}")
    if not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"PAYLAKE_REDIS_URL must start with redis://, got {settings.redis_url!r}")
    if not settings.cold_uri.startswith(("hdfs://", "file://")):
        raise SettingsError(f"PAYLAKE_COLD_URI must be hdfs://… or file://…, got {settings.cold_uri!r}")
    if not 0 < settings.hot_low_water < 1:
        raise SettingsError(f"PAYLAKE_HOT_LOW_WATER must be between 0 and 1, got {settings.hot_low_water}")
    if settings.archive_slice_min <= 0 or 1440 % settings.archive_slice_min:
        raise SettingsError(f"PAYLAKE_ARCHIVE_SLICE_MIN must divide 1440, got {settings.archive_slice_min}")
    if settings.spark_connect_url and not settings.spark_remote.startswith("sc://"):
        raise SettingsError(f"PAYLAKE_SPARK_REMOTE must be sc://host:port or off, got {settings.spark_remote!r}")
    if settings.customers <= 0:
        raise SettingsError(f"PAYLAKE_CUSTOMERS must be positive, got {settings.customers}")
    if settings.marts_window_days <= 0:
        raise SettingsError(f"PAYLAKE_MARTS_WINDOW_DAYS must be positive, got {settings.marts_window_days}")
    if settings.hot_max_mb <= 0:
        raise SettingsError(f"PAYLAKE_HOT_MAX_MB must be positive, got {settings.hot_max_mb}")
    where = urlparse(settings.alert_webhook)
    if settings.alert_webhook and (where.scheme not in ("http", "https") or not where.hostname):
        raise SettingsError("PAYLAKE_ALERT_WEBHOOK must be an http:// or https:// URL (or empty: off)")
    if settings.alert_batch_max <= 0:
        raise SettingsError(f"PAYLAKE_ALERT_BATCH_MAX must be positive, got {settings.alert_batch_max}")


def settings_env(settings: Settings) -> dict[str, str]:
    """The PAYLAKE_* variables that reproduce ``settings`` in a child process (spark-submit, Airflow)."""
    env: dict[str, str] = {}
    for item in fields(Settings):
        value = getattr(settings, item.name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(str(v) for v in value)
        env[f"PAYLAKE_{item.name.upper()}"] = str(value)
    return env
