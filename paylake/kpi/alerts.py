"""Flagged transactions: the ``alerts`` collection (keyed by transaction id) and the capped Redis list."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from pymongo.database import Database

from paylake import clock, names
from paylake.mongo import insert_new
from paylake.webhook import outbox


def from_row(row: Any, run_id: str) -> dict[str, Any]:
    """An alert document from a flagged row (transforms.ALERT_COLUMNS; ``event_ms``/``ingest_ms`` = epoch
    milliseconds, no tz games)."""
    return {
        "_id": row["_id"],
        "event_time": datetime.fromtimestamp(row["event_ms"] / 1000, UTC),
        "ingest_time": datetime.fromtimestamp(row["ingest_ms"] / 1000, UTC),
        "customer_id": row["customer_id"],
        "merchant_id": row["merchant_id"],
        "amount": float(row["amount"]),
        "rules": list(row["rules"]),
        "is_fraud": bool(row["is_fraud"]),
        "run_id": run_id,
    }


def store(db: Database[Any], docs: Sequence[dict[str, Any]], webhook: bool = False) -> list[dict[str, Any]]:
    """Store alerts by transaction id; return those that were new (a re-run does not repeat them). With
    ``webhook``, each is queued for the webhook in the same insert (paylake.webhook.outbox).

    Alerts are only raised for the run's new range, so a duplicate comes from a crashed attempt at the same
    range: that first copy is kept, with its delivery state.
    """
    stored = outbox.queued(docs, clock.now()) if webhook else docs
    return [stored[i] for i in insert_new(db[names.ALERTS], stored)]


def public(doc: dict[str, Any]) -> dict[str, Any]:
    """An alert as it leaves paylake (the Redis list, the webhook): JSON types, the transaction id by name."""
    event_time: datetime = doc["event_time"]
    return {
        "transaction_id": doc["_id"],
        "event_time": event_time.astimezone(UTC).isoformat(),
        "customer_id": doc["customer_id"],
        "merchant_id": doc["merchant_id"],
        "amount": doc["amount"],
        "rules": doc["rules"],
        "is_fraud": doc["is_fraud"],
    }


def recent_json(doc: dict[str, Any]) -> str:
    return json.dumps(public(doc))


def push_recent(client: redis.Redis, docs: Sequence[dict[str, Any]]) -> None:
    """Prepend alerts (newest event first at the head) and cap the list at names.ALERTS_RECENT_MAX."""
    if not docs:
        return
    newest_last = sorted(docs, key=lambda d: (d["event_time"], d["_id"]))[-names.ALERTS_RECENT_MAX :]
    pipe = client.pipeline(transaction=True)
    pipe.lpush(names.ALERTS_RECENT, *[recent_json(d) for d in newest_last])
    pipe.ltrim(names.ALERTS_RECENT, 0, names.ALERTS_RECENT_MAX - 1)
    pipe.execute()


def refill_recent(db: Database[Any], client: redis.Redis) -> None:
    """After a Redis wipe: rebuild the recent list from the newest stored alerts."""
    newest = list(db[names.ALERTS].find().sort("event_time", -1).limit(names.ALERTS_RECENT_MAX))
    if newest:
        push_recent(client, newest)
