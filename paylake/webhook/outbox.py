"""The webhook's outbox: each alert document carries its own delivery state.

When PAYLAKE_ALERT_WEBHOOK is set, the KPI job stores each new alert with ``webhook_queued_at`` in the same
insert (``paylake.kpi.alerts.store``), so storing and queueing cannot be parted by a crash: an alert in
``alerts`` is queued or delivered, never forgotten. A redone refresh skips the alerts stored by its crashed
attempt, and with them their delivery state, so nothing is queued twice either. A separate outbox collection
written beside ``alerts`` would have needed a second write, and either lost alerts to a crash between the two
or re-queued them on the redo (sent again when delivered in between).

Delivered: ``webhook_queued_at`` is removed and ``webhook_delivered_at`` set, in one update, and only after
the receiver's 2xx. FerretDB writes each updated document in a transaction of its own (~5 ms here), a cost
the deliverer pays in the background, where an outbox collection would have added an insert to every refresh.
The backlog is a date range on ``webhook_queued_at`` (an index declared in ``paylake.indexes``): delivered
alerts hold no value in that index, so a poll reads the backlog only, not every alert ever raised (FerretDB
serves the range through paylake's range patch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pymongo.database import Database

from paylake import names

QUEUED = "webhook_queued_at"  # present while the alert waits for a 2xx; its value: when it was queued
DELIVERED = "webhook_delivered_at"  # when the receiver acknowledged it
_BACKLOG = {QUEUED: {"$gte": datetime(1970, 1, 1, tzinfo=UTC)}}  # every queued alert: a date range
# What a payload needs (kpi.alerts.public): the rest of the document stays in MongoDB.
_FIELDS = {"event_time": 1, "customer_id": 1, "merchant_id": 1, "amount": 1, "rules": 1, "is_fraud": 1}


def queued(docs: Sequence[dict[str, Any]], moment: datetime) -> list[dict[str, Any]]:
    """``docs`` as they are stored when the webhook is on: queued at ``moment``."""
    return [{**doc, QUEUED: moment} for doc in docs]


def next_batch(db: Database[Any], limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` queued alerts, in queue order as the store returns them (by the index, or by insertion
    when SQLite scans: both are queue order). No sort: FerretDB would read and sort the whole backlog for
    each batch (3.4 s with 20,000 queued), while an unsorted read stops at ``limit`` (8 ms)."""
    return list(db[names.ALERTS].find(_BACKLOG, _FIELDS).limit(limit))


def mark_delivered(db: Database[Any], ids: Sequence[str], moment: datetime) -> int:
    """Take acknowledged alerts off the queue; return how many were still on it."""
    result = db[names.ALERTS].update_many(
        {"_id": {"$in": list(ids)}, **_BACKLOG}, {"$unset": {QUEUED: ""}, "$set": {DELIVERED: moment}}
    )
    return int(result.modified_count)


@dataclass(frozen=True)
class Backlog:
    pending: int  # alerts queued, not acknowledged yet
    oldest: datetime | None  # when the longest-waiting one was queued

    def age_s(self, now: datetime) -> float:
        """Seconds the oldest queued alert has waited (0 with an empty queue): a receiver outage grows it."""
        return max((now - self.oldest).total_seconds(), 0.0) if self.oldest else 0.0


def backlog(db: Database[Any]) -> Backlog:
    """The queue's length and its oldest entry (the first in queue order, as in ``next_batch``). The count
    reads every queued alert: instant while the queue is short, ~0.2 ms per queued alert on FerretDB."""
    alerts = db[names.ALERTS]
    oldest = alerts.find_one(_BACKLOG, {QUEUED: 1})
    return Backlog(alerts.count_documents(_BACKLOG), oldest[QUEUED] if oldest else None)
