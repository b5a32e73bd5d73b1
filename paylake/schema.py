"""The transaction fact, defined once.

``FIELDS`` is the single definition; the ingest validator, the Spark schema and the Arrow/Parquet schema
are all derived from it. In MongoDB the transaction id is stored as ``_id`` (unique for free, so a retried
batch never duplicates); ``to_mongo``/``from_mongo`` translate at the I/O boundary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # heavy imports only where the derived schemas are built
    import pyarrow as pa
    from pyspark.sql.types import StructType

Kind = Literal["string", "timestamp", "double", "long", "bool"]

CURRENCIES = ("USD", "EUR", "GBP", "CAD", "AUD", "JPY", "CHF", "SEK", "BRL", "INR")
PAYMENT_METHODS = ("credit_card", "debit_card", "digital_wallet", "bank_transfer", "bnpl")
CHANNELS = ("online", "in_store", "mobile_app")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "pos_terminal")
STATUSES = ("approved", "declined")


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    doc: str
    required: bool = True
    min_value: float | None = None  # inclusive
    max_value: float | None = None  # inclusive
    exclusive_min: bool = False
    allowed: tuple[str, ...] | None = None


FIELDS: tuple[Field, ...] = (
    Field("transaction_id", "string", "unique id of the transaction"),
    Field("event_time", "timestamp", "when the payment happened (UTC)"),
    Field("ingest_time", "timestamp", "when paylake stored it (UTC); the KPI watermark follows it"),
    Field("customer_id", "string", "customers dimension key"),
    Field("merchant_id", "string", "merchants dimension key"),
    Field("amount", "double", "amount in the transaction currency", min_value=0.0, exclusive_min=True),
    Field("currency", "string", "ISO 4217 code", allowed=CURRENCIES),
    Field("payment_method", "string", "how the customer paid", allowed=PAYMENT_METHODS),
    Field("channel", "string", "where the payment was made", allowed=CHANNELS),
    Field("device_type", "string", "device used", allowed=DEVICE_TYPES),
    Field("is_new_device", "bool", "first time this customer used this device"),
    Field("latitude", "double", "location latitude", min_value=-90.0, max_value=90.0),
    Field("longitude", "double", "location longitude", min_value=-180.0, max_value=180.0),
    Field("country", "string", "ISO 3166 alpha-2 country of the location"),
    Field("status", "string", "authorisation outcome", allowed=STATUSES),
    Field("latency_ms", "double", "processing latency in milliseconds", min_value=0.0),
    Field("is_fraud", "bool", "fraud label (ground truth from the generator)"),
)
FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in FIELDS)
BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}


def _check_value(field: Field, value: Any) -> str | None:
    """Why ``value`` is not valid for ``field``, or None when it is."""
    if value is None:
        return f"{field.name} is missing" if field.required else None
    if field.kind == "string":
        if not isinstance(value, str) or not value:
            return f"{field.name} must be a non-empty string, got {value!r}"
        if field.allowed is not None and value not in field.allowed:
            return f"{field.name} {value!r} is not one of {', '.join(field.allowed)}"
    elif field.kind == "timestamp":
        if not isinstance(value, datetime):
            return f"{field.name} must be a datetime, got {type(value).__name__}"
    elif field.kind == "bool":
        if not isinstance(value, bool):
            return f"{field.name} must be true or false, got {value!r}"
    else:  # double / long
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return f"{field.name} must be a finite number, got {value!r}"
        if field.min_value is not None:
            too_low = value <= field.min_value if field.exclusive_min else value < field.min_value
            if too_low:
                op = ">" if field.exclusive_min else ">="
                return f"{field.name} must be {op} {field.min_value:g}, got {value!r}"
        if field.max_value is not None and value > field.max_value:
            return f"{field.name} must be <= {field.max_value:g}, got {value!r}"
    return None


def validate(record: Mapping[str, Any]) -> list[str]:
    """Every reason ``record`` breaks the schema (empty when it is valid). Unknown keys are reasons too."""
    reasons = [r for f in FIELDS if (r := _check_value(f, record.get(f.name))) is not None]
    extra = sorted(set(record) - set(FIELD_NAMES) - {"_id"})
    if extra:
        reasons.append(f"unknown fields: {', '.join(extra)}")
    return reasons


def to_mongo(record: Mapping[str, Any]) -> dict[str, Any]:
    """A valid record as a MongoDB document: the transaction id becomes ``_id``."""
    doc = {k: v for k, v in record.items() if k != "transaction_id"}
    doc["_id"] = record["transaction_id"]
    return doc


def from_mongo(doc: Mapping[str, Any]) -> dict[str, Any]:
    record = {k: v for k, v in doc.items() if k != "_id"}
    record["transaction_id"] = doc["_id"]
    return record


def _stored_name(name: str) -> str:
    return "_id" if name == "transaction_id" else name


def spark_schema(mongo: bool = False, nullable: bool = False) -> StructType:
    """The Spark schema; ``mongo=True`` names the id column ``_id`` as stored in MongoDB. ``nullable=True``
    lets every field be null: for reads whose bad rows must reach the data-quality gates, where a
    required field's null would otherwise fail the whole read."""
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
        "double": T.DoubleType(),
        "long": T.LongType(),
        "bool": T.BooleanType(),
    }
    return T.StructType(
        [T.StructField(_stored_name(f.name) if mongo else f.name, spark_types[f.kind], nullable or not f.required)
         for f in FIELDS]
    )


def arrow_schema() -> pa.Schema:
    """The Arrow schema of archived Parquet files (timestamps in UTC, millisecond precision like BSON)."""
    import pyarrow as pa

    arrow_types = {
        "string": pa.string(),
        "timestamp": pa.timestamp("ms", tz="UTC"),
        "double": pa.float64(),
        "long": pa.int64(),
        "bool": pa.bool_(),
    }
    return pa.schema([pa.field(f.name, arrow_types[f.kind], nullable=not f.required) for f in FIELDS])
