"""Everything one dashboard refresh needs, read from Redis only (never MongoDB or HDFS).

Three round trips per refresh: the snapshot pointer, the snapshot parts (both inside ``snapshot.read``),
and one pipeline for the recent alerts, the hot-store size, the recent archive batches, the daily marts'
history and the data-quality gate runs. Every Redis failure, and every malformed live value, becomes a
DashboardDataError whose message can be shown to an operator as it is. A malformed marts or gate-run value
becomes a message in ``problems`` (by key) instead: the batch layer's payload must not take the live page
down.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis

from paylake import cache, names
from paylake.dashboard import history
from paylake.dashboard.history import GateRun, MartsHistory
from paylake.kpi import snapshot as kpi_snapshot
from paylake.kpi.snapshot import Snapshot

# Short timeouts: a dead Redis must turn into a message on the page within a refresh, not a hung page.
CONNECT_TIMEOUT_S = 1.0
SOCKET_TIMEOUT_S = 2.0


class DashboardDataError(RuntimeError):
    """Redis could not be read, or holds data the dashboard cannot decode; the message says which."""


@dataclass(frozen=True)
class HotSize:
    """The hot store's size as last measured by the archive job (names.HOT_SIZE)."""

    data_mb: float
    threshold_mb: float
    low_water_mb: float
    checked_at: str
    docs: int | None


@dataclass(frozen=True)
class DashboardData:
    """One refresh's worth of Redis state; each part is None / empty when nobody has written it yet."""

    snapshot: Snapshot | None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    hot_size: HotSize | None = None
    archive_batches: list[dict[str, Any]] = field(default_factory=list)
    marts: MartsHistory | None = None
    gate: GateRun | None = None  # the last data-quality gate run
    gate_runs: list[GateRun] = field(default_factory=list)  # recent gate runs, newest first
    skipped_items: int = 0  # list items that were not valid JSON objects (shown, not fatal)
    problems: dict[str, str] = field(default_factory=dict)  # Redis key → why its value was not decoded (shown)
    read_ms: float = 0.0

    @property
    def empty(self) -> bool:
        return (self.snapshot is None and not self.alerts and self.hot_size is None and not self.archive_batches
                and self.marts is None and self.gate is None)


def connect(redis_url: str) -> redis.Redis:
    """The page's client: decoded strings, and shorter timeouts than a job's (a page must not hang)."""
    return cache.connect(redis_url, decode_responses=True, connect_timeout_s=CONNECT_TIMEOUT_S,
                         socket_timeout_s=SOCKET_TIMEOUT_S)


def _where(client: redis.Redis) -> str:
    kwargs = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix:{kwargs['path']}"
    return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"


def _json_items(raw: list[Any]) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    skipped = 0
    for text in raw:
        try:
            item = json.loads(text)
        except (TypeError, ValueError):
            skipped += 1
            continue
        if isinstance(item, dict):
            items.append(item)
        else:
            skipped += 1
    return items, skipped


def _hot_size(raw: dict[str, str]) -> HotSize | None:
    if not raw:
        return None
    try:
        docs = raw.get("docs")
        return HotSize(
            data_mb=float(raw["data_mb"]),
            threshold_mb=float(raw["threshold_mb"]),
            low_water_mb=float(raw.get("low_water_mb") or 0.0),
            checked_at=raw.get("checked_at", ""),
            docs=int(float(docs)) if docs not in (None, "") else None,
        )
    except (KeyError, ValueError) as exc:
        raise DashboardDataError(f"Redis key {names.HOT_SIZE} is malformed ({exc!r}): {raw}") from exc


T = TypeVar("T")


def _decoded(key: str, raw: str | None, decode: Callable[[str], T], problems: dict[str, str]) -> T | None:
    """The decoded value, or None; a malformed ``raw`` adds the message to show to ``problems``."""
    if raw is None:
        return None
    try:
        return decode(raw)
    except history.HistoryDecodeError as exc:
        problems[key] = f"Redis key {key} is malformed and not shown: {exc}"
        return None


def load(client: redis.Redis, alerts_max: int = names.ALERTS_RECENT_MAX, archive_max: int = 10,
         gate_runs_max: int = 10) -> DashboardData:
    """Read the KPI snapshot, recent alerts, hot-store size, recent archive batches, the marts' history and
    the data-quality gate runs in one go."""
    started = time.perf_counter()
    try:
        snap = kpi_snapshot.read(client)
        pipe = client.pipeline(transaction=False)
        pipe.lrange(names.ALERTS_RECENT, 0, alerts_max - 1)
        pipe.hgetall(names.HOT_SIZE)
        pipe.lrange(names.ARCHIVE_RECENT, 0, archive_max - 1)
        pipe.get(names.MARTS_HISTORY)
        pipe.get(names.DQ_LAST)
        pipe.lrange(names.DQ_RECENT, 0, gate_runs_max - 1)
        alerts_raw, hot_raw, archive_raw, marts_raw, gate_raw, gate_runs_raw = pipe.execute()
    except redis.AuthenticationError as exc:
        raise DashboardDataError(f"Redis at {_where(client)} refused the credentials: {exc}") from exc
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        raise DashboardDataError(f"Redis unreachable at {_where(client)}: {exc}") from exc
    except redis.RedisError as exc:
        raise DashboardDataError(f"Redis error at {_where(client)}: {exc}") from exc
    except (ValueError, TypeError, KeyError) as exc:  # json / float parsing inside snapshot.read
        raise DashboardDataError(f"the KPI snapshot in Redis is malformed: {exc!r}") from exc
    alerts, skipped_alerts = _json_items(alerts_raw)
    batches, skipped_batches = _json_items(archive_raw)
    problems: dict[str, str] = {}
    marts = _decoded(names.MARTS_HISTORY, marts_raw, history.decode_history, problems)
    gate = _decoded(names.DQ_LAST, gate_raw, history.decode_gate_run, problems)
    gate_runs, skipped_runs = history.decode_gate_runs(gate_runs_raw)
    return DashboardData(
        snapshot=snap,
        alerts=alerts,
        hot_size=_hot_size(hot_raw),
        archive_batches=batches,
        marts=marts,
        gate=gate,
        gate_runs=gate_runs,
        skipped_items=skipped_alerts + skipped_batches + skipped_runs,
        problems=problems,
        read_ms=(time.perf_counter() - started) * 1000,
    )
