from datetime import UTC, datetime

import pytest

from paylake import schema


def valid_record() -> dict:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    return {
        "transaction_id": "tx-1",
        "event_time": now,
        "ingest_time": now,
        "customer_id": "C0001",
        "merchant_id": "M0001",
        "amount": 12.5,
        "currency": "USD",
        "payment_method": "credit_card",
        "channel": "online",
        "device_type": "mobile",
        "is_new_device": False,
        "latitude": 40.7,
        "longitude": -74.0,
        "country": "US",
        "status": "approved",
        "latency_ms": 120.0,
        "is_fraud": False,
    }


def test_valid_record_passes() -> None:
    assert schema.validate(valid_record()) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"transaction_id": None}, "transaction_id is missing"),
        ({"amount": 0.0}, "amount must be > 0"),
        ({"amount": -3.0}, "amount must be > 0"),
        ({"amount": "12"}, "amount must be a finite number"),
        ({"amount": float("nan")}, "amount must be a finite number"),
        ({"currency": "XXX"}, "currency 'XXX' is not one of"),
        ({"latitude": 91.0}, "latitude must be <= 90"),
        ({"longitude": -181.0}, "longitude must be >= -180"),
        ({"is_fraud": 1}, "is_fraud must be true or false"),
        ({"event_time": "2026-01-01"}, "event_time must be a datetime"),
        ({"surprise": 1}, "unknown fields: surprise"),
    ],
)
def test_each_break_is_named(change: dict, reason: str) -> None:
    record = valid_record() | change
    reasons = schema.validate(record)
    assert any(reason in r for r in reasons), reasons


def test_mongo_round_trip_uses_id() -> None:
    doc = schema.to_mongo(valid_record())
    assert doc["_id"] == "tx-1" and "transaction_id" not in doc
    assert schema.from_mongo(doc) == valid_record()


def test_spark_and_arrow_schemas_follow_fields() -> None:
    arrow = schema.arrow_schema()
    assert arrow.names == list(schema.FIELD_NAMES)
    assert str(arrow.field("event_time").type) == "timestamp[ms, tz=UTC]"
    spark = schema.spark_schema(mongo=True)
    assert spark.fieldNames()[0] == "_id"
    assert spark.fieldNames()[1:] == list(schema.FIELD_NAMES[1:])
