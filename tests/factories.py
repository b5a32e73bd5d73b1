"""Valid transaction records with known values, for tests that need exact ground truth."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def make_records(
    count: int,
    start: datetime,
    step: timedelta = timedelta(seconds=1),
    prefix: str = "tx",
    ingest_delay: timedelta = timedelta(0),
    **overrides: Any,
) -> list[dict[str, Any]]:
    """``count`` schema-valid records, event times ``start + i*step``; every 10th is fraud, every 7th declined."""
    records = []
    for i in range(count):
        event_time = start + i * step
        record = {
            "transaction_id": f"{prefix}{i:08d}",
            "event_time": event_time,
            "ingest_time": event_time + ingest_delay,
            "customer_id": f"C{i % 50:05d}",
            "merchant_id": f"M{i % 20:05d}",
            "amount": float(10 + i % 90),
            "currency": "USD",
            "payment_method": "credit_card",
            "channel": "online",
            "device_type": "mobile",
            "is_new_device": False,
            "latitude": 40.0,
            "longitude": -74.0,
            "country": "US",
            "status": "declined" if i % 7 == 0 else "approved",
            "latency_ms": float(50 + i % 400),
            "is_fraud": i % 10 == 0,
        }
        record.update(overrides)
        records.append(record)
    return records
