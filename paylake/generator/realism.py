"""Statistics of a transaction stream that say whether it behaves like card payments (pure pandas).

Used by ``bench/realism.py`` (stream vs reference) and the generator's tests. Input: fact rows with
customer_id, event_time, latitude, longitude, amount, is_fraud (and merchant category for the derived
columns); the reference table has the same columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from paylake.generator import geo
from paylake.kpi.rules import DEFAULT_RULES

# The KPI job's own thresholds: the stream is judged by what its travel and velocity rules would see.
TRAVEL_KMH = DEFAULT_RULES.travel_max_kmh
TRAVEL_MIN_KM = DEFAULT_RULES.travel_min_km
BURST_SIZE = DEFAULT_RULES.velocity_max_tx + 1  # the velocity rule fires on more than velocity_max_tx
BURST_WINDOW_S = DEFAULT_RULES.velocity_window_min * 60


def _by_customer(df: pd.DataFrame) -> pd.DataFrame:
    out = df.assign(_ms=pd.to_datetime(df["event_time"], utc=True).astype("int64") // 10**6)
    return out.sort_values(["customer_id", "_ms"], kind="stable", ignore_index=True)


def honest_pairs(df: pd.DataFrame) -> pd.DataFrame:
    """Consecutive payments of one customer where both are honest: distance (km) and speed (km/h)."""
    s = _by_customer(df)
    prev = s.shift(1)
    prev_honest = ~prev["is_fraud"].astype("boolean").fillna(True).astype(bool)
    same = (s["customer_id"] == prev["customer_id"]) & ~s["is_fraud"].astype(bool) & prev_honest
    pairs, before = s[same], prev[same]
    km = geo.haversine_km(before["latitude"].to_numpy(float), before["longitude"].to_numpy(float),
                          pairs["latitude"].to_numpy(float), pairs["longitude"].to_numpy(float))
    hours = np.maximum((pairs["_ms"].to_numpy() - before["_ms"].to_numpy()) / 3.6e6, 1 / 3600)
    return pd.DataFrame({"km": km, "kmh": km / hours})


def impossible_travel_share(df: pd.DataFrame) -> float:
    """Share of honest consecutive pairs farther than 100 km apart at more than 900 km/h."""
    pairs = honest_pairs(df)
    return float(((pairs["km"] > TRAVEL_MIN_KM) & (pairs["kmh"] > TRAVEL_KMH)).mean()) if len(pairs) else 0.0


def in_bursts(df: pd.DataFrame) -> np.ndarray:
    """Per row (input order): the row is one of ``BURST_SIZE`` or more payments of its customer within
    ``BURST_WINDOW_S`` seconds, counting the row and the customer's earlier ones (as the velocity rule)."""
    s = _by_customer(df.assign(_row=np.arange(len(df))))
    ms, cust = s["_ms"].to_numpy(), s["customer_id"].to_numpy()
    block = np.r_[0, np.cumsum(cust[1:] != cust[:-1])]  # customers are contiguous after the sort
    # (block, time) as one sortable integer: times relative to the earliest fit in 34 bits for years.
    key = (block.astype(np.int64) << 34) + (ms - ms.min())
    lo = np.searchsorted(key, key - BURST_WINDOW_S * 1000, side="left")
    burst = (np.arange(len(s)) - lo + 1) >= BURST_SIZE
    out = np.empty(len(s), dtype=bool)
    out[s["_row"].to_numpy()] = burst
    return out


def honest_burst_share(df: pd.DataFrame) -> float:
    """Share of honest payments that are part of a burst (see ``in_bursts``)."""
    honest = ~df["is_fraud"].astype(bool).to_numpy()
    return float(in_bursts(df)[honest].mean()) if honest.any() else 0.0


def local_hours(df: pd.DataFrame) -> np.ndarray:
    hours = pd.to_datetime(df["event_time"], utc=True).dt.hour.to_numpy()
    return geo.local_hour(hours, df["longitude"].to_numpy(dtype=float))
