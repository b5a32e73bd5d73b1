"""Per-minute KPI buckets in MongoDB (names.KPI_MINUTES): the idempotent merge and the load.

A bucket document (``_id`` = the minute as ``YYYY-MM-DDTHH:MMZ``):
  {minute, count, amount, approved_count, approved_amount, fraud_count, flagged_count, flagged_fraud_count,
   latency_sum, hist_v2: {<bucket>: n}, revenue: {<category>: x}, rules: {<rule>: n}, runs: [<run id>, ...]}
``hist_v2`` is the latency histogram (histogram.FIELD; non-empty buckets only). Documents written before
version 2 also hold ``hist`` (20 buckets per decade): never read, never written (see histogram.py).
Each merge is one ``$inc`` + ``$push runs`` update per bucket (atomic per document), skipped when the
bucket already lists the run id. A run that crashes half-way is re-run with the same id and range (see
state.py), so every bucket gets each run's delta exactly once. Archiving never touches these documents.

Recent events are also counted per SLOT_S-second slot (names.KPI_SLOTS, ``_id`` = the slot's start as
``YYYY-MM-DDTHH:MM:SSZ``, same fields and merge): the last-60-seconds window. Only the last few minutes of
slots are needed; older ones are pruned by each refresh.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, UpdateOne
from pymongo.database import Database

from paylake import names
from paylake.kpi import histogram
from paylake.kpi.headline import Bucket
from paylake.kpi.rules import RULES
from paylake.kpi.transforms import UNRESOLVED
from paylake.mongo import BULK_CHUNK, bulk_write_chunked

SUMS = ("count", "amount", "approved_count", "approved_amount", "fraud_count", "flagged_count",
        "flagged_fraud_count", "latency_sum")


ID_FORMATS = {names.KPI_MINUTES: "%Y-%m-%dT%H:%MZ", names.KPI_SLOTS: "%Y-%m-%dT%H:%M:%SZ"}
SLOTS_KEPT = timedelta(minutes=10)  # slots older than this before the watermark are pruned


def bucket_id(minute: datetime, collection: str = names.KPI_MINUTES) -> str:
    return minute.astimezone(UTC).strftime(ID_FORMATS[collection])


def field_key(name: str) -> str:
    """A category name usable as a MongoDB field name (no dots, no leading $)."""
    return name.replace(".", "_").replace("$", "_") or "_"


def fold(cells: Iterable[Any], key: str = "minute_s") -> list[Bucket]:
    """Buckets (oldest first) from rows of transforms.minute_cells (pyspark Rows or dicts): per minute, or
    with ``key="slot_s"`` per recent slot (cells without a slot left out)."""
    by_start: dict[int, Bucket] = {}
    for cell in cells:
        if cell[key] is None:
            continue
        start_s = int(cell[key])
        b = by_start.setdefault(start_s, Bucket(minute=datetime.fromtimestamp(start_s, UTC)))
        b.add(
            Bucket(
                minute=b.minute,
                **{name: cell[name] for name in SUMS},
                hist=_hist(cell),
                revenue={field_key(str(cell["category"])): float(cell["revenue"])},
                rules={rule: int(cell[f"rule_{rule}"]) for rule in RULES},
            )
        )
    return [by_start[k] for k in sorted(by_start)]


def _hist(cell: Any) -> dict[int, int]:
    """A cell's latency histogram: its bucket holds its count, unless the bucket was left to Python (the
    cell's latencies sit at bucket edges: transforms.latency_bucket)."""
    if cell["latency_bucket"] == UNRESOLVED:
        return histogram.of(float(x) for x in cell["edge_latencies"])
    return {} if cell["latency_bucket"] is None else {int(cell["latency_bucket"]): int(cell["count"])}


def increments(delta: Bucket) -> dict[str, Any]:
    inc: dict[str, Any] = {name: getattr(delta, name) for name in SUMS}
    inc |= {f"{histogram.FIELD}.{k}": v for k, v in delta.hist.items()}
    inc |= {f"revenue.{k}": v for k, v in delta.revenue.items()}
    inc |= {f"rules.{k}": v for k, v in delta.rules.items() if v}
    return inc


def merge(
    db: Database[Any],
    run_id: str,
    deltas: Sequence[Bucket],
    between_chunks: Callable[[], None] | None = None,
    chunk: int = BULK_CHUNK,
    collection: str = names.KPI_MINUTES,
) -> int:
    """Add each delta to its bucket (of ``collection``: minutes, or slots) unless ``run_id`` was already
    applied there; return how many were applied.

    One run at a time (the DAG has max_active_runs=1), so reading the applied run ids first is safe; the
    check-then-update is per bucket and the update itself is atomic.
    """
    coll = db[collection]
    if not deltas:
        return 0
    ids = [bucket_id(d.minute, collection) for d in deltas]
    # The minute bound lets the index serve the lookup ($in alone scans every bucket ever kept on FerretDB).
    since = min(d.minute for d in deltas)
    query = {"minute": {"$gte": since}, "_id": {"$in": ids}, "runs": run_id}
    applied = {d["_id"] for d in coll.find(query, {"_id": 1})}
    ops = [
        UpdateOne(
            {"_id": key},
            {"$inc": increments(delta), "$push": {"runs": run_id}, "$setOnInsert": {"minute": delta.minute}},
            upsert=True,
        )
        for key, delta in zip(ids, deltas, strict=True)
        if key not in applied
    ]
    bulk_write_chunked(coll, ops, ordered=True, between_chunks=between_chunks, chunk=chunk)
    return len(ops)


def load(db: Database[Any], since: datetime | None = None) -> list[Bucket]:
    """Stored buckets (all of them, or from ``since`` on), oldest first."""
    query: dict[str, Any] = {"minute": {"$gte": since}} if since else {}
    skip = dict.fromkeys(("runs", *histogram.LEGACY_FIELDS), 0)
    return [to_bucket(doc) for doc in db[names.KPI_MINUTES].find(query, skip).sort("minute", ASCENDING)]


def load_minutes(db: Database[Any], minutes: Sequence[datetime]) -> list[Bucket]:
    """The stored buckets of these ``minutes`` (those that exist), oldest first."""
    query = {"minute": {"$gte": min(minutes)}, "_id": {"$in": [bucket_id(m) for m in minutes]}}
    skip = dict.fromkeys(("runs", *histogram.LEGACY_FIELDS), 0)
    return [to_bucket(doc) for doc in db[names.KPI_MINUTES].find(query, skip).sort("minute", ASCENDING)]


def load_slots(db: Database[Any], since: datetime) -> list[Bucket]:
    """The stored slots from ``since`` on, oldest first."""
    docs = db[names.KPI_SLOTS].find({"minute": {"$gte": since}}, {"runs": 0}).sort("minute", ASCENDING)
    return [to_bucket(doc) for doc in docs]


def prune_slots(db: Database[Any], watermark: datetime) -> None:
    """Drop the slots older than SLOTS_KEPT before ``watermark`` (no window reads them any more)."""
    db[names.KPI_SLOTS].delete_many({"minute": {"$lt": watermark - SLOTS_KEPT}})


def utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def to_bucket(doc: dict[str, Any], minute: datetime | None = None) -> Bucket:
    """A Bucket from a stored document (a minute bucket, or the totals document given its first minute)."""
    return Bucket(
        minute=utc(minute or doc["minute"]),
        **{name: doc.get(name, 0) for name in SUMS},
        hist={int(k): int(v) for k, v in (doc.get(histogram.FIELD) or {}).items()},
        revenue={str(k): float(v) for k, v in (doc.get("revenue") or {}).items()},
        rules={str(k): int(v) for k, v in (doc.get("rules") or {}).items()},
    )

