"""One reading of the pipeline's health, straight from the stores it lives in (MongoDB, Redis).

Every counter is derived from a store, never kept in the exporter: the generator's persisted counts
(generator/stats.py), the KPI job's exactly-once all-time totals, the archive manifest, the gate runs. So a
restarted exporter serves the same values, and a retried job is counted once (its store says so). A store
that cannot be read leaves its fields None and is reported as down; the rest is still served.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError
from redis.exceptions import RedisError

from paylake import cache, inflight, names
from paylake.clock import as_utc, now
from paylake.kpi.rules import RULES
from paylake.mongo import open_db
from paylake.settings import Settings

MONGO_TIMEOUT_MS = 2_000


@dataclass
class Reading:
    at: datetime = field(default_factory=now)
    mongo_up: bool = False
    redis_up: bool = False
    generator: dict[str, Any] = field(default_factory=dict)  # generator_stats document
    inflight_since: datetime | None = None  # the oldest insert still open (paylake/inflight.py); None: none
    watermark: datetime | None = None
    last_refresh: dict[str, Any] = field(default_factory=dict)
    counted: int | None = None  # all-time transactions counted by the KPI job
    fraud_counted: int | None = None
    rule_fires: dict[str, int] = field(default_factory=dict)
    archive: dict[str, Any] = field(default_factory=dict)  # complete batches/rows/bytes, unfinished, last success
    gates: dict[str, Any] = field(default_factory=dict)  # runs by result, the last run
    hot: dict[str, str] = field(default_factory=dict)  # names.HOT_SIZE hash
    snapshot_published_at: datetime | None = None
    webhook: dict[str, Any] = field(default_factory=dict)  # queued alerts, the oldest's age (webhook set only)


def _kpi(db: Database[Any], out: Reading) -> None:
    state = {d["_id"]: d for d in db[names.KPI_STATE].find({"_id": {"$in": ["watermark", "totals", "last_refresh"]}})}
    out.watermark = as_utc(state.get("watermark", {}).get("ingest_time"))
    out.last_refresh = state.get("last_refresh", {})
    totals = state.get("totals")
    if totals is not None:
        out.counted, out.fraud_counted = int(totals.get("count", 0)), int(totals.get("fraud_count", 0))
        fired = totals.get("rules") or {}
        out.rule_fires = {rule: int(fired.get(rule, 0)) for rule in RULES}


def _archive(db: Database[Any], out: Reading) -> None:
    done: dict[str, Any] = {"batches": 0, "rows": 0, "bytes": 0, "unfinished": 0,
                            "last_success": None, "oldest_unfinished": None}
    for b in db[names.ARCHIVE_MANIFEST].find({}, {"state": 1, "rows": 1, "bytes": 1, "times": 1}):
        times = b.get("times") or {}
        if b.get("state") == "complete":
            done["batches"] += 1
            done["rows"] += int(b.get("rows") or 0)
            done["bytes"] += int(b.get("bytes") or 0)
            finished = as_utc(times.get("complete"))
            if finished and (done["last_success"] is None or finished > done["last_success"]):
                done["last_success"] = finished
        else:
            done["unfinished"] += 1
            planned = as_utc(times.get("planned"))
            if planned and (done["oldest_unfinished"] is None or planned < done["oldest_unfinished"]):
                done["oldest_unfinished"] = planned
    out.archive = done


def _gates(db: Database[Any], out: Reading) -> None:
    runs = db[names.DQ_RESULTS]
    last = next(iter(runs.find({}).sort("finished_at", -1).limit(1)), None)
    out.gates = {"passed": runs.count_documents({"passed": True}), "failed": runs.count_documents({"passed": False}),
                 "last": last}


def read_mongo(settings: Settings, out: Reading) -> None:
    try:
        with open_db(settings, MONGO_TIMEOUT_MS) as db:
            _read_db(settings, db, out)
        out.mongo_up = True
    except PyMongoError:
        out.mongo_up = False


def _read_db(settings: Settings, db: Database[Any], out: Reading) -> None:
    out.generator = db[names.GENERATOR_STATS].find_one({"_id": "totals"}) or {}
    opened = [as_utc(e.get("opened")) for e in inflight.entries(db).find({}, {"opened": 1})]
    out.inflight_since = min((o for o in opened if o is not None), default=None)
    _kpi(db, out)
    _archive(db, out)
    _gates(db, out)
    if settings.alert_webhook:
        from paylake.webhook.outbox import backlog

        queued = backlog(db)
        out.webhook = {"queued": queued.pending, "oldest": as_utc(queued.oldest)}


def read_redis(settings: Settings, out: Reading) -> None:
    client = cache.connect(settings.redis_url, decode_responses=True)
    try:
        out.hot = {str(k): str(v) for k, v in (client.hgetall(names.HOT_SIZE) or {}).items()}
        version = client.get(names.KPI_CURRENT)
        published = client.hget(names.kpi_snapshot_key(str(version), "meta"), "published_at") if version else None
        out.snapshot_published_at = datetime.fromisoformat(str(published)) if published else None
        out.redis_up = True
    except (RedisError, ValueError):
        out.redis_up = False
    finally:
        client.close()


def read(settings: Settings) -> Reading:
    out = Reading()
    read_mongo(settings, out)
    read_redis(settings, out)
    return out
