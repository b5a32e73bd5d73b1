"""MongoDB documents (as pymongo decodes them) → an Arrow table of a Spark schema, column by column.

Why: a job that already has the documents on the driver hands them to Spark as one Arrow relation instead of
having Spark read them again through the connector. On FerretDB a read costs the server a full decode of every
document whatever the projection, and the connector always appends a ``$project`` of its schema's fields,
which FerretDB runs in Go at about the cost of the read itself: reading through pymongo once and sending Arrow
cost half the CPU of the probe plus the connector's read (bench/kpi_phases.py, README "Figures").

The rules are the MongoDB connector's, for every kind of field the schemas use: a missing field or a value of
another BSON type is null; an integer in a double field is a float; a boolean is never a number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

BATCH = 20_000  # documents per Arrow record batch: bounds the dicts held at once, not the table


def _string(v: Any) -> Any:
    return v if isinstance(v, str) else None


def _double(v: Any) -> Any:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def _long(v: Any) -> Any:
    return int(v) if isinstance(v, int) and not isinstance(v, bool) else None


def _bool(v: Any) -> Any:
    return v if isinstance(v, bool) else None


def _timestamp(v: Any) -> Any:
    return v if isinstance(v, datetime) else None


def _kinds() -> dict[str, tuple[Callable[[Any], Any], pa.DataType]]:
    """Spark type name → (the value rule, the Arrow type Spark reads back as that type)."""
    import pyarrow as pa

    return {
        "string": (_string, pa.string()),
        "double": (_double, pa.float64()),
        "bigint": (_long, pa.int64()),
        "boolean": (_bool, pa.bool_()),
        # BSON dates are milliseconds, UTC: exact in ms, and Spark reads a zoned Arrow timestamp as an instant.
        "timestamp": (_timestamp, pa.timestamp("ms", tz="UTC")),
    }


def arrow_schema(schema: StructType) -> pa.Schema:
    import pyarrow as pa

    kinds = _kinds()
    return pa.schema([pa.field(f.name, kinds[f.dataType.simpleString()][1]) for f in schema.fields])


def _batches(docs: Iterable[dict[str, Any]], schema: StructType) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    kinds, target = _kinds(), arrow_schema(schema)
    rules = [(f.name, kinds[f.dataType.simpleString()][0]) for f in schema.fields]
    docs = iter(docs)
    while chunk := list(islice(docs, BATCH)):
        columns = [pa.array([rule(d.get(name)) for d in chunk], target.field(name).type) for name, rule in rules]
        yield pa.RecordBatch.from_arrays(columns, schema=target)


def to_table(docs: Iterable[dict[str, Any]], schema: StructType) -> pa.Table:
    """The documents as a table with ``schema``'s columns (Arrow types Spark reads back as its types); a type
    the rules do not cover raises KeyError."""
    import pyarrow as pa

    return pa.Table.from_batches(list(_batches(docs, schema)), schema=arrow_schema(schema))
