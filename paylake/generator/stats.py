"""The generator's counts, persisted: ``$inc`` deltas into one MongoDB document (``names.GENERATOR_STATS``).

The metrics exporter (paylake.ops) serves them as counters that survive restarts of the generator and of
the exporter, summed over every generator process that ever wrote to the store. Flushed at most once per
FLUSH_S (and at the end of a run); a flush that fails keeps its delta for the next one, so nothing is lost
while MongoDB is away (the generator itself then waits, see ingest.py).
"""

from __future__ import annotations

import time
from dataclasses import fields, replace
from typing import Any

from pymongo.errors import PyMongoError

from paylake import names
from paylake.clock import now
from paylake.generator.ingest import Counts

FLUSH_S = 1.0
STATS_ID = "totals"
FIELDS = tuple(f.name for f in fields(Counts) if f.name != "seconds")  # the counts; seconds is not additive


class StatsRecorder:
    def __init__(self, db: Any) -> None:
        self.coll = db[names.GENERATOR_STATS]
        self.sent = Counts()
        self.last = time.monotonic()

    def flush(self, counts: Counts, force: bool = False) -> bool:
        """Send what ``counts`` gained since the last successful flush; False when skipped or failed."""
        moment = time.monotonic()
        if not force and moment - self.last < FLUSH_S:
            return False
        delta = {f: getattr(counts, f) - getattr(self.sent, f) for f in FIELDS}
        stamp = now()
        # The current rate: inserted per second since the last flush (0 once the generator stops flushing:
        # the exporter ages it out by updated_at).
        update: dict[str, Any] = {"updated_at": stamp, "rate_per_s": delta["inserted"] / max(moment - self.last, 1e-3)}
        if delta["inserted"]:
            update["last_insert_at"] = stamp
        try:
            self.coll.update_one({"_id": STATS_ID}, {"$inc": delta, "$set": update}, upsert=True)
        except PyMongoError:
            return False
        self.sent, self.last = replace(counts), moment
        return True
