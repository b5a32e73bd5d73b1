"""All-time KPI sums in one document (kpi_state ``_id: totals``), so a snapshot never reads every bucket.

The document holds the bucket fields summed over every minute bucket, the first minute and one past the
last, and ``last_run``: the id of the last run whose delta it holds. A run adds its whole delta in one
conditional update (``last_run`` != the run's id), after merging its buckets and before committing, so a
run redone after a crash (same id, same range, see state.py) adds it exactly once.

A store that has buckets but no totals (older versions, or the document deleted by hand) gets them
rebuilt from every bucket when the job publishes: publishing happens only with no run pending, when the
buckets hold exactly the committed runs. The latency histogram is under histogram.FIELD; on a store
upgraded from version 1 the document keeps its old ``hist`` too, never read (see histogram.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pymongo.database import Database

from paylake import names
from paylake.kpi import buckets, histogram
from paylake.kpi.headline import EPOCH, AllTime, Bucket, total

TOTALS_ID = "totals"


def add(db: Database[Any], run_id: str, deltas: Sequence[Bucket]) -> bool:
    """Add one run's deltas to the totals unless they hold it already; False when skipped (a redone run, or
    no totals yet: the next publish rebuilds them from the buckets, this run's included)."""
    if not deltas:
        return False
    first = min(d.minute for d in deltas)
    end = max(d.minute for d in deltas) + timedelta(minutes=1)
    result = db[names.KPI_STATE].update_one(
        {"_id": TOTALS_ID, "last_run": {"$ne": run_id}},
        {
            "$inc": buckets.increments(total(deltas, first)),
            "$min": {"first_minute": first},
            "$max": {"end_minute": end},
            "$set": {"last_run": run_id},
        },
    )
    return result.modified_count == 1


def load(db: Database[Any]) -> AllTime:
    """The all-time sums; rebuilt from every bucket when there is no totals document (see the module doc)."""
    doc = db[names.KPI_STATE].find_one({"_id": TOTALS_ID})
    if doc is None:
        return rebuild(db)
    first = doc.get("first_minute")
    end = doc.get("end_minute")
    sums = buckets.to_bucket(doc, minute=first or EPOCH)
    return AllTime(sums, buckets.utc(first) if first else None, buckets.utc(end) if end else None)


def rebuild(db: Database[Any]) -> AllTime:
    """Sum every bucket into a new totals document (the one read that grows with history; done once)."""
    every = AllTime.of(buckets.load(db))
    doc: dict[str, Any] = {name: getattr(every.sums, name) for name in buckets.SUMS}
    doc |= {histogram.FIELD: {str(k): v for k, v in every.sums.hist.items()}, "revenue": every.sums.revenue,
            "rules": every.sums.rules, "last_run": None}
    # No bucket: the minutes stay unset, not null ($min would keep a null: null sorts before dates).
    doc |= {k: v for k, v in (("first_minute", every.first_minute), ("end_minute", every.end_minute)) if v}
    db[names.KPI_STATE].replace_one({"_id": TOTALS_ID}, doc, upsert=True)
    return every
