"""What the generator learns from a training table besides the CTGAN model (pure pandas/numpy).

The model learns a transaction's *behaviour relative to who pays and where* (``BEHAVIOUR``): the amount as
a ratio to the expected amount (the category's median × the customer's spend index), the distance from
where the customer is, channel, device, status, latency and the fraud type. The simulation
(``paylake.generator.simulate``) decides who pays, when and where. What it needs from the table is the
``StreamProfile``: the fraud rate and mix, the local-hour profile of honest payments, the category medians
that turn ratios back into amounts, and the honest device-distance range.

A user's table (``paylake train --csv --map``) may lack columns; each falls back to a documented default:
no ``event_time``/``longitude`` → ``DEFAULT_HOURS`` (local time = UTC when only ``event_time`` is given);
no ``fraud_type`` → every fraud row is one generic kind, spread over the episodes by ``DEFAULT_FRAUD_MIX``;
no ``category`` → one median for all; no known ``customer_id`` → spend index 1 for every row; other
behaviour columns → ``records.fill_missing``'s simple independent draws.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from paylake.generator import geo

HONEST = "none"  # fraud_type of an honest transaction
GENERIC = "fraud"  # fraud_type of a fraud row whose table did not say which kind
FRAUD_TYPES = ("card_testing", "odd_hours_large", "far_from_home", "new_device")
DEFAULT_FRAUD_MIX = {"card_testing": 0.35, "odd_hours_large": 0.20, "far_from_home": 0.25, "new_device": 0.20}
# Payments by local hour: night trough, lunch and evening peaks (the reference's documented profile).
DEFAULT_HOURS = (0.6, 0.4, 0.3, 0.25, 0.3, 0.5, 1.2, 2.5, 3.5, 3.8, 4.0, 4.6,
                 5.2, 4.8, 4.2, 4.0, 4.2, 4.8, 5.4, 5.6, 5.0, 3.8, 2.4, 1.2)
DEFAULT_DISTANCE_CAP_KM = 50.0
BEHAVIOUR = ("category", "amount_ratio", "payment_method", "channel", "device_type", "is_new_device",
             "distance_km", "status", "latency_ms", "fraud_type")


@dataclass(frozen=True)
class StreamProfile:
    fraud_rate: float
    fraud_mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_FRAUD_MIX))
    hours: tuple[float, ...] = DEFAULT_HOURS  # honest payments by local hour (sums to 1 when learned)
    category_median: dict[str, float] = field(default_factory=dict)  # "*" = all categories
    category_spread: dict[str, float] = field(default_factory=dict)  # std of log(amount ratio), honest rows
    distance_cap_km: float = DEFAULT_DISTANCE_CAP_KM  # honest device distance from where the customer is
    typed: bool = True  # the model knows the four fraud kinds (False: one GENERIC kind)
    channel_mix: dict[str, float] = field(default_factory=dict)  # honest payments by channel (empty: unknown)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamProfile:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if "hours" in known:
            known["hours"] = tuple(known["hours"])
        return cls(**known)

    def median(self, categories: np.ndarray) -> np.ndarray:
        fallback = self.category_median.get("*", 1.0)
        return np.array([self.category_median.get(c, fallback) for c in categories], dtype=float)

    def spread(self, categories: np.ndarray) -> np.ndarray:
        fallback = self.category_spread.get("*", 1.0)
        return np.array([self.category_spread.get(c, fallback) for c in categories], dtype=float)

    def model_kind(self, kind: str) -> str:
        """The model's fraud_type value to draw an episode of ``kind`` from."""
        return kind if self.typed or kind == HONEST else GENERIC


def fraud_types(frame: pd.DataFrame) -> pd.Series:
    """``fraud_type`` with HONEST for honest rows; GENERIC for fraud rows of a table without kinds."""
    fraud = frame["is_fraud"].astype(bool)
    if "fraud_type" not in frame.columns:
        return pd.Series(np.where(fraud, GENERIC, HONEST), index=frame.index)
    kinds = frame["fraud_type"].fillna("").astype(str).str.strip()
    return pd.Series(np.where(fraud, np.where(kinds.isin(FRAUD_TYPES), kinds, GENERIC), HONEST), index=frame.index)


def spend_index(frame: pd.DataFrame, customers: Mapping[str, float]) -> np.ndarray:
    """Each row's customer spend index (1.0 where the customer is unknown)."""
    if "customer_id" not in frame.columns:
        return np.ones(len(frame))
    return frame["customer_id"].map(customers).fillna(1.0).to_numpy(dtype=float)


def local_hours(frame: pd.DataFrame) -> np.ndarray | None:
    """Local hour of each row (UTC hour + round(longitude / 15)); UTC when there is no longitude."""
    if "event_time" not in frame.columns:
        return None
    utc = pd.to_datetime(frame["event_time"], utc=True).dt.hour.to_numpy()
    if "longitude" not in frame.columns:
        return np.asarray(utc)
    return geo.local_hour(utc, frame["longitude"].to_numpy(dtype=float))


def learn(frame: pd.DataFrame) -> StreamProfile:
    """The profile of a validated training frame (``model.training_frame``)."""
    kinds = fraud_types(frame)
    honest = kinds == HONEST
    fraud = kinds[~honest]
    typed = bool(len(fraud)) and not (fraud == GENERIC).any()
    mix = (fraud.value_counts(normalize=True).to_dict() if typed else dict(DEFAULT_FRAUD_MIX))
    medians = {"*": float(frame.loc[honest, "amount"].median())}
    if "category" in frame.columns:
        medians |= frame[honest].groupby("category")["amount"].median().astype(float).to_dict()
    spreads = _spreads(frame[honest.to_numpy()], medians)
    hours = local_hours(frame)
    counts = np.bincount(hours[honest.to_numpy()], minlength=24) if hours is not None else None
    cap = DEFAULT_DISTANCE_CAP_KM
    if "distance_km" in frame.columns and honest.any():
        cap = float(frame.loc[honest, "distance_km"].quantile(0.999))
    return StreamProfile(
        fraud_rate=float((~honest).mean()),
        fraud_mix={str(k): float(v) for k, v in mix.items()},
        hours=tuple(float(c) for c in counts / counts.sum()) if counts is not None and counts.sum() else DEFAULT_HOURS,
        category_median=medians,
        category_spread=spreads,
        distance_cap_km=cap,
        channel_mix=(frame.loc[honest, "channel"].value_counts(normalize=True).astype(float).to_dict()
                     if "channel" in frame.columns else {}),
        typed=typed,
    )


def _spreads(honest: pd.DataFrame, medians: Mapping[str, float]) -> dict[str, float]:
    """Std of log(amount / category median) per category and overall ("*"); 1.0 where undefined."""
    cats = honest["category"] if "category" in honest.columns else pd.Series("*", index=honest.index)
    logs = np.log(honest["amount"].to_numpy(dtype=float) / cats.map(medians).fillna(medians["*"]).to_numpy(float))
    by = pd.Series(logs, index=honest.index).groupby(cats.to_numpy()).std().fillna(1.0).clip(lower=0.05)
    overall = float(np.std(logs)) if len(logs) > 1 else 1.0
    return {"*": overall or 1.0} | {str(k): float(v) for k, v in by.items()}


def behaviour(frame: pd.DataFrame, profile: StreamProfile, customers: Mapping[str, float]) -> pd.DataFrame:
    """The model's columns: the amount as a ratio to what this customer pays in this category, fraud kinds."""
    cats = frame["category"].to_numpy(dtype=object) if "category" in frame.columns else np.full(len(frame), "*")
    expected = profile.median(cats) * spend_index(frame, customers)
    out = frame.assign(amount_ratio=frame["amount"].to_numpy(dtype=float) / expected, fraud_type=fraud_types(frame))
    return out[[c for c in BEHAVIOUR if c in out.columns]].reset_index(drop=True)
