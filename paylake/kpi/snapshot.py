"""The KPI snapshot in Redis: its shape, the atomic publish (versioned keys + pointer swap) and the read.

Layout (see names.py and the README "Redis keys" table), for a snapshot version ``v``:
  paylake:kpi:current                 -> v
  paylake:kpi:snap:v:meta             hash: version, as_of, watermark, published_at, rule_* figures
  paylake:kpi:snap:v:headline:<w>     hash: the Headline fields for window w in names.WINDOWS
  paylake:kpi:snap:v:revenue:<w>      hash: category -> revenue in window w
  paylake:kpi:snap:v:series           hash: minutes and one JSON list per metric (last 24 h, per minute,
                                      the last one partial: it starts at as_of)
A superseded version expires after OLD_VERSION_TTL_S, so a reader that fetched the pointer just before a
swap still reads a whole snapshot.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any

import redis

from paylake import names

OLD_VERSION_TTL_S = 120
SERIES_METRICS = ("count", "amount", "fraud_rate", "latency_p95_ms", "latency_mean_ms", "flagged_rate", "revenue")


@dataclass(frozen=True)
class Headline:
    """KPIs over one window of event-time minutes (definitions in the README)."""

    window: str
    start: str  # ISO-8601 UTC event time, inclusive ("" for all time)
    end: str  # ISO-8601 UTC: the watermark (everything counted by then, the partial minute included)
    count: int
    amount: float
    approved_amount: float
    avg_ticket: float
    fraud_count: int
    fraud_rate: float
    flagged_count: int
    flagged_rate: float
    latency_mean_ms: float
    latency_p95_ms: float
    tpm: float
    revenue: float


@dataclass(frozen=True)
class Series:
    """Per-minute series: ``minutes[i]`` (ISO-8601 UTC minute start) goes with ``values[metric][i]``; the last
    minute is the partial one (it starts at the snapshot's ``as_of``)."""

    minutes: list[str]
    values: dict[str, list[float]]


@dataclass(frozen=True)
class Snapshot:
    version: str
    as_of: str  # ISO-8601: start of the watermark's (partial) minute, the series' last; complete minutes end here
    watermark: str  # ISO-8601: ingest-time watermark of the KPI job
    published_at: str
    headlines: dict[str, Headline]
    revenue_by_category: dict[str, dict[str, float]]  # window -> category -> revenue
    series: Series
    rules: dict[str, float] = field(default_factory=dict)  # rule_precision, rule_recall, per-rule counts


def new_version(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%S%f")


def publish(client: redis.Redis, snapshot: Snapshot) -> None:
    """Write every part under the new version and swap the pointer in one MULTI/EXEC transaction."""
    version = snapshot.version
    previous = client.get(names.KPI_CURRENT)
    meta: dict[Any, Any] = {"version": version, "as_of": snapshot.as_of, "watermark": snapshot.watermark}
    meta |= {"published_at": snapshot.published_at} | {f"rule_{k}": v for k, v in snapshot.rules.items()}
    series: dict[Any, Any] = {"minutes": json.dumps(snapshot.series.minutes)}
    series |= {metric: json.dumps(values) for metric, values in snapshot.series.values.items()}
    pipe = client.pipeline(transaction=True)
    pipe.hset(names.kpi_snapshot_key(version, "meta"), mapping=meta)
    for window, headline in snapshot.headlines.items():
        pipe.hset(names.kpi_headline_key(version, window), mapping=dict[Any, Any](asdict(headline)))
    for window, revenue in snapshot.revenue_by_category.items():
        if revenue:
            pipe.hset(names.kpi_revenue_key(version, window), mapping=dict[Any, Any](revenue))
    pipe.hset(names.kpi_snapshot_key(version, "series"), mapping=series)
    pipe.set(names.KPI_CURRENT, version)
    if previous is not None:
        old = previous.decode() if isinstance(previous, bytes) else str(previous)
        if old != version:
            for key in client.scan_iter(match=names.kpi_snapshot_key(old, "*")):
                pipe.expire(key, OLD_VERSION_TTL_S)
    pipe.execute()


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _headline(raw: dict[Any, Any]) -> Headline:
    values = {_text(k): _text(v) for k, v in raw.items()}
    kwargs: dict[str, Any] = {}
    for f in fields(Headline):
        text = values.get(f.name, "")
        kwargs[f.name] = int(float(text)) if f.type == "int" else float(text) if f.type == "float" else text
    return Headline(**kwargs)


def read(client: redis.Redis) -> Snapshot | None:
    """The current snapshot, or None when nothing has been published. Two round trips."""
    current = client.get(names.KPI_CURRENT)
    if current is None:
        return None
    version = _text(current)
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(names.kpi_snapshot_key(version, "meta"))
    pipe.hgetall(names.kpi_snapshot_key(version, "series"))
    for window in names.WINDOWS:
        pipe.hgetall(names.kpi_headline_key(version, window))
        pipe.hgetall(names.kpi_revenue_key(version, window))
    meta_raw, series_raw, *per_window = pipe.execute()
    if not meta_raw:
        return None
    meta = {_text(k): _text(v) for k, v in meta_raw.items()}
    series_values = {_text(k): json.loads(_text(v)) for k, v in series_raw.items()}
    minutes = series_values.pop("minutes", [])
    headlines: dict[str, Headline] = {}
    revenue: dict[str, dict[str, float]] = {}
    for window, head_raw, rev_raw in zip(names.WINDOWS, per_window[0::2], per_window[1::2], strict=True):
        if head_raw:
            headlines[window] = _headline(head_raw)
        if rev_raw:
            revenue[window] = {_text(k): float(_text(v)) for k, v in rev_raw.items()}
    rules = {k.removeprefix("rule_"): float(v) for k, v in meta.items() if k.startswith("rule_")}
    return Snapshot(
        version=version,
        as_of=meta.get("as_of", ""),
        watermark=meta.get("watermark", ""),
        published_at=meta.get("published_at", ""),
        headlines=headlines,
        revenue_by_category=revenue,
        series=Series(minutes=minutes, values=series_values),
        rules=rules,
    )
