"""Every secondary index paylake relies on, in one place, and a check that ranges actually use them.

The KPI job reads new transactions by ``ingest_time``, archiving plans and deletes by ``event_time``, the
snapshot reads recent buckets and slots by ``minute``, the recent-alerts list by ``event_time``, the webhook's
deliverer its backlog by ``webhook_queued_at``. All are date ranges. MongoDB serves them from these indexes;
FerretDB does only when built with paylake's range-pushdown patch and when the index was created by such a
build (the patch indexes SQL values, not JSON text). ``ensure`` recreates an index that the server does not
use for a range, once, and otherwise warns: the job stays correct, but its reads then scan the whole
collection.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import OperationFailure

from paylake import names
from paylake.webhook import outbox

log = logging.getLogger(__name__)

DATE_INDEXES = {  # collection -> fields, each with an ascending index named "<field>_1"
    names.TRANSACTIONS: ("ingest_time", "event_time"),
    names.KPI_MINUTES: ("minute",),
    names.KPI_SLOTS: ("minute",),
    names.ALERTS: ("event_time", outbox.QUEUED),
}
# The probe asks for a range above every stored date, as selective as the real reads (new data only). A
# bound at 1970 matches every row, and once FerretDB has run ANALYZE (each collStats does; the archive's
# size check calls it) SQLite rightly prefers a scan for it: every KPI run after an archive run then
# dropped and rebuilt a sound index (11-12.6 s runs instead of ~5.5 s in the demo).
_PROBE = datetime(2999, 1, 1, tzinfo=UTC)


def ensure(db: Database[Any], collections: tuple[str, ...] = tuple(DATE_INDEXES)) -> None:
    """Create the date indexes of ``collections`` (idempotent); on FerretDB, make sure ranges use them."""
    for collection in collections:
        for field in DATE_INDEXES[collection]:
            coll = db[collection]
            coll.create_index([(field, ASCENDING)], name=f"{field}_1")
            if range_uses_index(coll, field) is False:
                _recreate(coll, field)


def range_uses_index(coll: Collection[Any], field: str) -> bool | None:
    """Whether FerretDB serves a selective ``{field: {$gt: <date>}}`` from the field's index; None on MongoDB
    (its planner picks by itself) or when the plan says nothing."""
    plan = coll.database.command("explain", {"find": coll.name, "filter": {field: {"$gt": _PROBE}}})
    if "ferretdbVersion" not in plan.get("serverInfo", {}):
        return None
    steps = str(plan.get("queryPlanner", ""))
    return f"{field}_1" in steps if steps else None


def _recreate(coll: Collection[Any], field: str) -> None:
    name = f"{field}_1"
    log.warning("%s.%s: the server scans instead of using index %s; recreating it", coll.name, field, name)
    try:
        coll.drop_index(name)
    except OperationFailure:  # the generator and the KPI job may both upgrade it: the other one dropped it
        log.info("%s.%s: index %s was already dropped", coll.name, field, name)
    coll.create_index([(field, ASCENDING)], name=name)
    if range_uses_index(coll, field) is False:
        log.warning(
            "%s.%s: FerretDB still scans; it lacks paylake's range patch (run `make setup` to rebuild it). "
            "Results stay exact, but each read of new data scans the whole collection.", coll.name, field,
        )
