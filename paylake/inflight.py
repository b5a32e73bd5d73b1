"""Inserts in flight: a KPI range never ends inside a batch that is still landing.

A writer stamps a batch's ingest time right before an unordered ``insert_many``, and the server may make the
documents visible one by one (FerretDB does). A refresh counts (watermark, bound] and moves the watermark to
the largest ingest time it read, so a read in the middle of an insert would count part of the batch and leave
the rest behind the watermark, never counted. The allowed lateness (5 s) only covered inserts faster than
that; in a 2,000 tx/s soak inserts stalled for tens of seconds beside an archive run, and 1,112 transactions
went uncounted (README, "Exactly once").

So a writer registers the time it opens an insert, before it stamps the batch (``Fence.open``), and removes
it once the insert has returned, retries included (``Fence.close``). A reader takes its clock bound first and
reads the open entries after that (``settled``). Either it sees the entry, and its bound stays below the
entry's time and so below every stamp of that batch; or the entry was written after the read, and so the
batch is stamped after the reader's clock bound. An entry whose process is gone (same host, by pid) or older
than ``PAYLAKE_INGEST_FENCE_MAX_S`` is a writer that died in an insert: the reader drops it with a warning,
so a killed generator does not hold the KPIs back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import PyMongoError

from paylake import clock, names
from paylake.lock import holder_is_dead, new_owner

log = logging.getLogger(__name__)

MS = timedelta(milliseconds=1)  # BSON dates keep milliseconds: the latest stamp that is below an entry


def entries(db: Database[Any]) -> Collection[Any]:
    """The in-flight entries of ``db``'s writers (in a database of their own: ``names.inflight_db``)."""
    return db.client[names.inflight_db(db.name)][names.INGEST_INFLIGHT]


class Fence:
    """One writer's entry in ``ingest_inflight``: open while one of its inserts may still be landing."""

    def __init__(self, db: Database[Any]) -> None:
        self.coll = entries(db)
        self.writer = new_owner()  # host:pid:token, as a lock's owner: a dead writer is found the same way
        self.opened: datetime | None = None

    def open(self) -> datetime:
        """Register an insert about to be stamped; its stamps must be taken after this returns. A batch's
        retries keep its first attempt's entry: a lost attempt's documents may still be landing."""
        if self.opened is None:
            opened = clock.now_ms()
            self.coll.update_one({"_id": self.writer},
                                 {"$set": {"opened": opened}}, upsert=True)
            self.opened = opened
        return self.opened

    def close(self) -> None:
        """The batch has landed (or was given up). A failed removal only holds readers back until this
        writer's next ``open`` moves the entry on, or until it exits."""
        if self.opened is None:
            return
        self.opened = None
        try:
            self.coll.delete_one({"_id": self.writer})
        except PyMongoError as exc:
            log.warning("could not clear the in-flight entry %s: %s", self.writer, exc)


def settled(db: Database[Any], bound: datetime | None, max_age_s: float) -> datetime | None:
    """``bound`` (inclusive; None: no bound) lowered below every insert still in flight. Call it after taking
    the clock that ``bound`` comes from (see the module's docstring)."""
    oldest, coll = None, entries(db)
    for entry in coll.find():  # one per writer with an insert open (``close`` deletes it)
        opened = clock.as_utc(entry.get("opened"))
        if opened is None:  # not written by a Fence: nothing to wait for
            continue
        why = _dead(entry, opened, max_age_s)
        if why:
            log.warning("in-flight insert of writer %s (opened %s) ignored and cleared: %s",
                        entry["_id"], opened.isoformat(), why)
            coll.delete_one({"_id": entry["_id"], "opened": entry["opened"]})
            continue
        oldest = opened if oldest is None else min(oldest, opened)
    if oldest is None:
        return bound
    below = oldest - MS
    return below if bound is None else min(bound, below)


def _dead(entry: dict[str, Any], opened: datetime, max_age_s: float) -> str | None:
    """Why an entry's writer is taken for dead, or None."""
    age = (clock.now() - opened).total_seconds()
    if age > max_age_s:
        return f"open for {age:.0f} s, longer than PAYLAKE_INGEST_FENCE_MAX_S={max_age_s:g}"
    if holder_is_dead(str(entry["_id"])):
        return "its process has exited"
    return None
