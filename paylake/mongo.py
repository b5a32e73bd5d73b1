"""MongoDB helpers shared by the jobs."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from bson import json_util
from pymongo import MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import BulkWriteError
from pymongo.operations import ReplaceOne, UpdateOne

# FerretDB v1 (SQLite) runs each statement of one update command as a query whose SQL rows stay open until
# the whole command ends; its pool has 100 connections, so one command with ~100 statements waits for a
# connection it holds itself and the server stalls for every client. Measured in the demo with a bulk
# upsert of a few thousand alerts. Keep every bulk write well under that.
BULK_CHUNK = 50
DUPLICATE_KEY = 11000  # the server's error code for an insert whose _id is taken

if TYPE_CHECKING:
    from paylake.settings import Settings


@contextmanager
def open_db(settings: Settings, timeout_ms: int | None = None) -> Iterator[Database[Any]]:
    """paylake's database (timezone-aware dates, as every reader expects), its client closed on exit;
    ``timeout_ms`` bounds server selection and connecting, for callers that must not hang on a down server."""
    extra: dict[str, Any] = {}
    if timeout_ms:
        extra = {"serverSelectionTimeoutMS": timeout_ms, "connectTimeoutMS": timeout_ms}
    client: MongoClient[Any] = MongoClient(settings.mongo_uri, tz_aware=True, **extra)
    try:
        yield client[settings.mongo_db]
    finally:
        client.close()


def bulk_write_chunked(
    coll: Collection[Any],
    ops: Sequence[UpdateOne | ReplaceOne],
    ordered: bool = True,
    between_chunks: Callable[[], None] | None = None,
    chunk: int = BULK_CHUNK,
) -> list[int]:
    """Run ``ops`` in bulk writes of at most ``chunk`` statements; return the indexes (into ``ops``) of the
    statements that upserted a new document."""
    upserted: list[int] = []
    for start in range(0, len(ops), chunk):
        if start and between_chunks is not None:
            between_chunks()
        result = coll.bulk_write(list(ops[start : start + chunk]), ordered=ordered)
        upserted += [start + i for i in sorted(result.upserted_ids or {})]
    return upserted


def insert_new(coll: Collection[Any], docs: Sequence[dict[str, Any]], chunk: int = 5_000) -> list[int]:
    """Insert ``docs`` (each with its ``_id``), skipping those already stored; return the indexes (into
    ``docs``) of the ones inserted now. A first write wins: a re-run's duplicates are left as they are. Any
    duplicate-key error is taken for a stored ``_id``, so the collection must have no other unique index.

    Cheaper than one upsert per document: paylake's FerretDB commits one SQLite transaction per 1,000
    documents of an insert command (fair-writes.patch), but one per update statement (~25 ms each here, an
    fsync), and each transaction queues for the one write lock.
    """
    inserted: list[int] = []
    for start in range(0, len(docs), chunk):
        part = list(docs[start : start + chunk])
        taken: set[int] = set()
        try:
            coll.insert_many(part, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            taken = {e["index"] for e in errors}
        inserted += [start + i for i in range(len(part)) if i not in taken]
    return inserted


def match_pipeline(match: dict[str, Any]) -> str:
    """A one-stage aggregation pipeline for the Spark connector's ``aggregation.pipeline`` option: the same
    filter a pymongo ``find`` takes, datetimes included, as canonical extended JSON (``$date``/``$numberLong``)."""
    return json_util.dumps([{"$match": match}], json_options=json_util.CANONICAL_JSON_OPTIONS)


def find_by_ids(
    coll: Collection[Any], ids: Sequence[Any], projection: dict[str, int] | None = None, chunk: int = 5_000
) -> Iterator[dict[str, Any]]:
    """The documents whose ``_id`` is in ``ids``, fetched with one ``{_id: {$in: …}}`` per ``chunk`` ids (the
    ``_id`` index serves each; on FerretDB through paylake's id-in-pushdown patch). Missing ids are skipped."""
    for start in range(0, len(ids), chunk):
        yield from coll.find({"_id": {"$in": list(ids[start : start + chunk])}}, projection)
