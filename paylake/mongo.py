"""MongoDB helpers shared by the jobs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from bson import json_util
from pymongo.collection import Collection
from pymongo.operations import ReplaceOne, UpdateOne

# FerretDB v1 (SQLite) runs each statement of one update command as a query whose SQL rows stay open until
# the whole command ends; its pool has 100 connections, so one command with ~100 statements waits for a
# connection it holds itself and the server stalls for every client. Measured in the demo with a bulk
# upsert of a few thousand alerts. Keep every bulk write well under that.
BULK_CHUNK = 50
DUPLICATE_KEY = 11000  # the server's error code for an insert whose _id is taken


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


def match_pipeline(match: dict[str, Any]) -> str:
    """A one-stage aggregation pipeline for the Spark connector's ``aggregation.pipeline`` option: the same
    filter a pymongo ``find`` takes, datetimes included, as canonical extended JSON (``$date``/``$numberLong``)."""
    return json_util.dumps([{"$match": match}], json_options=json_util.CANONICAL_JSON_OPTIONS)
