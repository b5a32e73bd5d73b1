"""From model samples to schema records (pure): ids, dimension keys, location, country, currency, bad records.

The CTGAN model produces the *behaviour* of a transaction (``MODEL_COLUMNS``); this module attaches it to
the star schema: a customer from the customers dimension, a merchant of the sampled category from the
merchants dimension, a location ``distance_km`` from the customer's home (country = nearest known city),
and the merchant's currency. Event and ingest times are stamped later, at emission and at insert.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from paylake import schema
from paylake.generator import geo
from paylake.generator.dimensions import CATEGORY_KEYS, Dimensions

MODEL_COLUMNS: tuple[str, ...] = (
    "category", "amount", "hour", "day_of_week", "payment_method", "channel", "device_type",
    "is_new_device", "distance_km", "status", "latency_ms", "is_fraud",
)


class Pools:
    """Dimension keys as arrays for vectorised draws."""

    def __init__(self, dims: Dimensions) -> None:
        if not dims.merchants or not dims.customers:
            raise ValueError("the merchants/customers dimensions are empty: run `paylake dimensions`")
        m = sorted(dims.merchants, key=lambda d: (d["category"], d["_id"]))
        self.m_id = np.array([d["_id"] for d in m], dtype=object)
        self.m_currency = np.array([geo.CITY_CURRENCY.get(d["city"], "USD") for d in m], dtype=object)
        cats = np.array([d["category"] for d in m], dtype=object)
        self.categories = tuple(sorted(set(cats)))
        self.cat_start = {k: int(np.searchsorted(cats, k, "left")) for k in self.categories}
        self.cat_count = {k: int((cats == k).sum()) for k in self.categories}
        self.c_id = np.array([d["_id"] for d in dims.customers], dtype=object)
        self.c_lat = np.array([d["home_latitude"] for d in dims.customers], dtype=float)
        self.c_lon = np.array([d["home_longitude"] for d in dims.customers], dtype=float)


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


def build_records(samples: pd.DataFrame, pools: Pools, rng: np.random.Generator, id_prefix: str,
                  first_seq: int) -> list[dict[str, Any]]:
    """One record per sample row with ids ``<id_prefix>-<seq>``; ``event_time``/``ingest_time`` are None."""
    df = fill_missing(samples, rng)
    n = len(df)
    cats = df["category"].to_numpy(dtype=object)
    known = np.isin(cats, pools.categories)  # a category without merchants: any merchant's category
    cats = np.where(known, cats, rng.choice(np.array(pools.categories, dtype=object), n))
    start = np.array([pools.cat_start[c] for c in cats])
    count = np.array([pools.cat_count[c] for c in cats])
    merch = start + (rng.random(n) * count).astype(int)
    cust = rng.integers(len(pools.c_id), size=n)
    distance = np.clip(df["distance_km"].to_numpy(dtype=float), 0.0, 19000.0)
    lat, lon = geo.displace(pools.c_lat[cust], pools.c_lon[cust], distance, rng)
    country = geo.CITY_COUNTRY[geo.nearest_city(lat, lon)]
    columns: dict[str, list[Any]] = {
        "transaction_id": [f"{id_prefix}-{first_seq + i:010d}" for i in range(n)],
        "event_time": [None] * n,
        "ingest_time": [None] * n,
        "customer_id": pools.c_id[cust].tolist(),
        "merchant_id": pools.m_id[merch].tolist(),
        "amount": np.round(df["amount"].to_numpy(dtype=float), 2).tolist(),
        "currency": pools.m_currency[merch].tolist(),
        "payment_method": df["payment_method"].astype(object).tolist(),
        "channel": df["channel"].astype(object).tolist(),
        "device_type": df["device_type"].astype(object).tolist(),
        "is_new_device": df["is_new_device"].to_numpy(dtype=bool).tolist(),
        "latitude": np.round(lat, 5).tolist(),
        "longitude": np.round(lon, 5).tolist(),
        "country": country.tolist(),
        "status": df["status"].astype(object).tolist(),
        "latency_ms": np.round(df["latency_ms"].to_numpy(dtype=float), 1).tolist(),
        "is_fraud": df["is_fraud"].to_numpy(dtype=bool).tolist(),
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
