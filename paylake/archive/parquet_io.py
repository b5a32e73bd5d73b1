"""The archive's data path: a batch read from MongoDB as Arrow, written as one Parquet file, read back.

No Spark: a batch is a copy, not a computation. Through Spark (the connector's read, a cached DataFrame, a
Parquet write and a read-back, each a Connect job) 93,750 documents cost the Spark server 25 CPU-s and most of
a 39-s run (bench/archive.py); reading them with pymongo into Arrow costs the client under 2 CPU-s, and
pyarrow writes the same file (zstd, millisecond UTC timestamps, sorted by event time, one large row group)
in a quarter of a second. A batch is read slice by slice by event-time range (served by the ``event_time``
index; both of its date bounds reach SQL on paylake's FerretDB), and slices.py keeps the counted rows (ingest
time at or before the KPI watermark): MongoDB's ``{event_time: range, ingest_time: {$lte: watermark}}``.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake import arrow_rows, names, schema
from paylake.archive.coldfs import ColdFS
from paylake.errors import PaylakeError

if TYPE_CHECKING:
    import pyarrow as pa

PART_NAME = "part-00000.zstd.parquet"  # one file per batch and date (a batch never spans dates)
READ_BATCH = 10_000  # documents per cursor batch
READ_PARTS = 2  # concurrent cursors per batch: one per core of the machine this was measured on


class BadRowsError(PaylakeError):
    """Hot documents that cannot be archived as they are (the message names the field and a transaction)."""


def read_events(db: Database[Any], start: datetime, end: datetime) -> pa.Table:
    """Every hot document with an event time in [start, end), uncounted ones too (slices.py keeps the counted
    ones: together, a batch's selection), every field, as Arrow (the MongoDB connector's value
    rules, ``arrow_rows``), with ``_id`` as stored.

    Read as READ_PARTS event-time parts at once, each its own cursor and connection: the server's work (on
    FerretDB, decoding every document: ~70 us each, 2.5x the client's) then runs on as many cores. The parts
    split at whole seconds and each is its own [from, to), so together they hold exactly the range."""
    import pyarrow as pa

    cuts = [start + (end - start) * i / READ_PARTS for i in range(1, READ_PARTS)]
    edges = [start, *(c.replace(microsecond=0) for c in cuts), end]
    parts = [(a, b) for a, b in zip(edges, edges[1:], strict=False) if a < b]
    with ThreadPoolExecutor(len(parts)) as pool:
        tables = list(pool.map(lambda part: _read(db, {"event_time": {"$gte": part[0], "$lt": part[1]}}), parts))
    return pa.concat_tables(tables)


def _read(db: Database[Any], where: dict[str, Any]) -> pa.Table:
    cursor = db[names.TRANSACTIONS].find(where, batch_size=READ_BATCH)
    return arrow_rows.to_table(cursor, schema.spark_schema(mongo=True, nullable=True))


def cold_table(hot: pa.Table) -> pa.Table:
    """Pure: hot rows (``read_events``) as the archive stores them: the schema's columns and types
    (``schema.arrow_schema``: ``_id`` is ``transaction_id`` again), sorted by event time so each file's
    min/max statistics prune queries by time. A null in a required field is refused, naming it: ingest
    validates every document, so one here was written around paylake and must not reach the archive silently."""
    import pyarrow.compute as pc

    target = schema.arrow_schema()
    table = hot.rename_columns(["transaction_id" if n == "_id" else n for n in hot.column_names])
    for field in target:
        column = table[field.name]
        if not field.nullable and column.null_count:
            row = pc.index(pc.is_null(column), True).as_py()
            raise BadRowsError(
                f"{column.null_count} hot transaction(s) lack {field.name!r} (or hold another type), e.g. "
                f"transaction_id {table['transaction_id'][row].as_py()!r}: fix or remove them to archive the range"
            )
    return table.select(target.names).cast(target).sort_by("event_time")


def parquet_bytes(table: pa.Table) -> bytes:
    """Pure: ``table`` as one Parquet file (zstd at Spark's level, 3: 47 bytes a transaction against 55 at
    pyarrow's default; one row group for up to a million rows: small row groups make queries slow)."""
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", compression_level=3, row_group_size=1 << 20)
    return out.getvalue()


def write(cold: ColdFS, directory: str, table: pa.Table) -> None:
    """Write ``table`` (``cold_table``) as ``directory``'s one Parquet file."""
    cold.write_bytes(f"{directory}/{PART_NAME}", parquet_bytes(table))


def read_ids(cold: ColdFS, directory: str) -> list[str]:
    """The transaction ids stored in the Parquet files under ``directory``, read back from cold storage."""
    import pyarrow.parquet as pq

    ids: list[str] = []
    for rel in cold.files(directory):
        if rel.endswith(".parquet"):
            column = pq.read_table(io.BytesIO(cold.read_bytes(rel)), columns=["transaction_id"])["transaction_id"]
            ids.extend(column.to_pylist())
    return ids
