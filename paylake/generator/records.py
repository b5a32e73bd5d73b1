"""From placed rows to schema records (pure): ids, defaults for what a user's table lacked, bad records.

``simulate`` decides who pays where and when; this module turns its rows into fact records. Event and
ingest times are stamped later, at emission and at insert.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from paylake import schema
from paylake.generator.dimensions import CATEGORY_KEYS


def fill_missing(samples: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Columns a user's own table did not have get simple independent draws, so every record is complete."""
    n, df = len(samples), samples.copy()
    defaults: dict[str, Any] = {
        "category": lambda: rng.choice(np.array(CATEGORY_KEYS, dtype=object), n),
        "payment_method": lambda: rng.choice(np.array(schema.PAYMENT_METHODS, dtype=object), n),
        "channel": lambda: rng.choice(np.array(schema.CHANNELS, dtype=object), n),
        "device_type": lambda: rng.choice(np.array(schema.DEVICE_TYPES, dtype=object), n),
        "is_new_device": lambda: rng.random(n) < 0.03,
        "distance_km": lambda: rng.lognormal(1.0, 1.0, n),
        "status": lambda: np.where(rng.random(n) < 0.03, "declined", "approved"),
        "latency_ms": lambda: rng.lognormal(np.log(200), 0.4, n),
    }
    for column, draw in defaults.items():
        if column not in df.columns:
            df[column] = draw()
    return df


def to_records(frame: pd.DataFrame, id_prefix: str, first_seq: int) -> list[dict[str, Any]]:
    """Schema records from placed rows (``simulate``), ids ``<id_prefix>-<seq>``. Each keeps its simulated
    time as ``_t`` (epoch seconds) for the emitter, which stamps ``event_time``; ``ingest_time`` is None."""
    n = len(frame)
    columns: dict[str, list[Any]] = {
        "transaction_id": [f"{id_prefix}-{first_seq + i:010d}" for i in range(n)],
        "event_time": [None] * n,
        "ingest_time": [None] * n,
        "customer_id": frame["customer_id"].tolist(),
        "merchant_id": frame["merchant_id"].tolist(),
        "amount": frame["amount"].astype(float).tolist(),
        "currency": frame["currency"].tolist(),
        "payment_method": frame["payment_method"].astype(object).tolist(),
        "channel": frame["channel"].astype(object).tolist(),
        "device_type": frame["device_type"].astype(object).tolist(),
        "is_new_device": frame["is_new_device"].to_numpy(dtype=bool).tolist(),
        "latitude": frame["latitude"].astype(float).tolist(),
        "longitude": frame["longitude"].astype(float).tolist(),
        "country": frame["country"].tolist(),
        "status": frame["status"].astype(object).tolist(),
        "latency_ms": np.round(frame["latency_ms"].to_numpy(dtype=float), 1).tolist(),
        "is_fraud": frame["is_fraud"].to_numpy(dtype=bool).tolist(),
        "_t": frame["t"].astype(float).tolist(),
    }
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


# Ways a record can be malformed (each breaks one schema rule): field → bad value (None = remove the field).
CORRUPTIONS: tuple[tuple[str, Any], ...] = (
    ("transaction_id", None), ("amount", -12.5), ("amount", 0.0), ("amount", "12.50"),
    ("currency", "XXX"), ("latitude", 123.4), ("longitude", -200.0), ("status", "pending"),
    ("channel", ""), ("latency_ms", float("nan")), ("customer_id", None), ("is_fraud", "yes"),
)


def inject_bad(records: list[dict[str, Any]], rate: float, rng: np.random.Generator) -> int:
    """Corrupt about ``rate`` of ``records`` in place (one schema rule each); return how many."""
    if rate <= 0:
        return 0
    picked = np.flatnonzero(rng.random(len(records)) < rate)
    for i, kind in zip(picked, rng.integers(len(CORRUPTIONS), size=len(picked)), strict=True):
        field, value = CORRUPTIONS[kind]
        if value is None:
            records[i].pop(field, None)
        else:
            records[i][field] = value
    return len(picked)
