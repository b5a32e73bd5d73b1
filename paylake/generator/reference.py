"""The reference-table simulator: a documented, seeded model of a card-payment stream (pure, numpy/pandas).

Normal traffic
  * time: ``days`` days from ``start``; weekday weights (Fri/Sat busier, Sun quieter) and an hourly
    profile in the customer's *local* time (night trough, lunch and evening peaks; local hour = UTC hour +
    round(home longitude / 15), the rules' own approximation); uniform minute/second.
  * customer: drawn with log-normal activity weights (a few very active customers, a long tail).
  * category → amount: log-normal per category (median and spread from ``dimensions.CATEGORIES``) scaled
    by the customer's segment (budget/standard/premium) typical amount.
  * channel/device/payment method: category- and channel-dependent mixes; in-store payments happen at a
    merchant of the customer's home city at the merchant's location, online/app ones at the customer's
    device a few km from home.
  * status: ~2.5% declined, more for amounts far above the category median.
  * latency: log-normal around a channel base (in-store 180 ms, app 220 ms, online 250 ms) with a 4%
    Pareto tail reaching seconds.
Fraud (``fraud_rate``, default 1.5%) in four signatures (column ``fraud_type``):
  * card_testing: bursts of 4–12 tiny online amounts (0.50–4.99) on one card within minutes, new device;
  * odd_hours_large: 8× the category median or more, 01:00–04:59 the victim's local time, online/app;
  * far_from_home: in-store at a merchant in another, distant city;
  * new_device: online/app from a device never seen, 3× the median.
Fraud is declined far more often (25–45%) than normal traffic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from paylake.generator import geo
from paylake.generator.dimensions import CATEGORIES, CATEGORY_KEYS, Dimensions, build_dimensions
from paylake.generator.profile import DEFAULT_FRAUD_MIX, DEFAULT_HOURS

WEEKDAY_WEIGHTS = np.array([1.0, 1.0, 1.0, 1.05, 1.15, 1.25, 0.85])  # Monday … Sunday
HOUR_WEIGHTS = np.array(DEFAULT_HOURS)
FRAUD_MIX = DEFAULT_FRAUD_MIX
CHANNEL_MIX = {"default": (0.6, 0.25, 0.15), "big_ticket": (0.35, 0.45, 0.20), "digital": (0.0, 0.6, 0.4)}
CHANNELS = ("in_store", "online", "mobile_app")
DEVICE_MIX = {"online": (("desktop", "mobile", "tablet"), (0.55, 0.35, 0.10)),
              "mobile_app": (("mobile", "tablet"), (0.85, 0.15))}
PAYMENT_MIX = {
    "in_store": (("credit_card", "debit_card", "digital_wallet"), (0.45, 0.40, 0.15)),
    "online": (("credit_card", "debit_card", "digital_wallet", "bank_transfer", "bnpl"), (0.45, 0.2, 0.2, 0.05, 0.1)),
    "mobile_app": (("digital_wallet", "credit_card", "debit_card", "bnpl"), (0.5, 0.3, 0.15, 0.05)),
}
LATENCY_BASE_MS = {"in_store": 180.0, "online": 250.0, "mobile_app": 220.0}


class _World:
    """Dimension documents as arrays, for vectorised draws."""

    def __init__(self, dims: Dimensions, rng: np.random.Generator) -> None:
        m, c = dims.merchants, dims.customers
        self.m_id = np.array([d["_id"] for d in m], dtype=object)
        self.m_cat = np.array([d["category"] for d in m], dtype=object)
        self.m_city = np.array([d["city"] for d in m], dtype=object)
        self.m_country = np.array([d["country"] for d in m], dtype=object)
        self.m_lat = np.array([d["latitude"] for d in m])
        self.m_lon = np.array([d["longitude"] for d in m])
        self.c_id = np.array([d["_id"] for d in c], dtype=object)
        self.c_city = np.array([d["home_city"] for d in c], dtype=object)
        self.c_lat = np.array([d["home_latitude"] for d in c])
        self.c_lon = np.array([d["home_longitude"] for d in c])
        self.c_factor = np.array([d["spend_index"] for d in c])
        self.c_tz = geo.utc_offset_h(self.c_lon)
        activity = rng.lognormal(0, 1.0, size=len(c))
        self.c_p = activity / activity.sum()
        self.by_cat = {k: np.flatnonzero(self.m_cat == k) for k in CATEGORY_KEYS}
        self.by_city = {city: np.flatnonzero(self.m_city == city) for city in set(self.m_city)}
        self.by_cat_city = {(k, city): np.flatnonzero((self.m_cat == k) & (self.m_city == city))
                            for k in CATEGORY_KEYS for city in set(self.m_city)}


def _times(rng: np.random.Generator, start: datetime, days: int, tz: np.ndarray,
           hours: np.ndarray | None = None) -> np.ndarray:
    """Event times (UTC) whose *local* hour (UTC hour + ``tz``) follows HOUR_WEIGHTS, or is ``hours``."""
    n = len(tz)
    day_of_week = (start.weekday() + np.arange(days)) % 7
    p_day = WEEKDAY_WEIGHTS[day_of_week] / WEEKDAY_WEIGHTS[day_of_week].sum()
    day = rng.choice(days, size=n, p=p_day)
    if hours is None:
        hours = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    seconds = day * 86400 + (hours - tz) * 3600 + rng.integers(0, 3600, size=n)
    seconds = np.clip(seconds, 0, days * 86400 - 1)  # the first/last local night may fall outside the range
    return np.datetime64(start.replace(tzinfo=None), "s") + seconds.astype("timedelta64[s]")


def _pick(rng: np.random.Generator, choices: tuple[str, ...], p: tuple[float, ...], n: int) -> np.ndarray:
    return rng.choice(np.array(choices, dtype=object), size=n, p=np.array(p) / sum(p))


def _merchants(rng: np.random.Generator, w: _World, cats: np.ndarray, cities: np.ndarray | None) -> np.ndarray:
    """A merchant of each row's category in the row's city (any category there if none; any city if no city)."""
    out = np.empty(len(cats), dtype=int)
    for i, cat in enumerate(cats):
        city = cities[i] if cities is not None else None
        pool = w.by_cat_city.get((cat, city)) if city is not None else None
        if city is not None and (pool is None or len(pool) == 0):
            pool = w.by_city.get(city)  # no such shop in town: another shop of the same city
        if pool is None or len(pool) == 0:
            pool = w.by_cat[cat]
        out[i] = pool[rng.integers(len(pool))]
    return out


def _frame(rng: np.random.Generator, w: _World, *, times: np.ndarray, cust: np.ndarray, merch: np.ndarray,
           amount: np.ndarray, channel: np.ndarray, new_device: np.ndarray, far: np.ndarray,
           decline_p: np.ndarray | float, fraud_type: str) -> pd.DataFrame:
    """Assemble rows: device, payment method, location, status and latency follow from the drawn parts."""
    n = len(times)
    device = np.full(n, "pos_terminal", dtype=object)
    payment = np.empty(n, dtype=object)
    for ch in CHANNELS:
        sel = channel == ch
        if ch in DEVICE_MIX:
            device[sel] = _pick(rng, *DEVICE_MIX[ch], int(sel.sum()))
        payment[sel] = _pick(rng, *PAYMENT_MIX[ch], int(sel.sum()))
    in_store = channel == "in_store"
    lat, lon = geo.displace(w.c_lat[cust], w.c_lon[cust], rng.lognormal(1.0, 1.0, n), rng)
    far_city = rng.integers(len(geo.CITIES), size=n)  # device abroad: near a random (other) city
    flat, flon = geo.displace(geo.CITY_LAT[far_city], geo.CITY_LON[far_city], rng.lognormal(1.0, 1.0, n), rng)
    lat, lon = np.where(far & ~in_store, flat, lat), np.where(far & ~in_store, flon, lon)
    lat = np.where(in_store, w.m_lat[merch] + rng.normal(0, 0.002, n), lat)
    lon = np.where(in_store, w.m_lon[merch] + rng.normal(0, 0.002, n), lon)
    country = np.where(in_store, w.m_country[merch], geo.CITY_COUNTRY[geo.nearest_city(lat, lon)])
    base = np.array([LATENCY_BASE_MS[c] for c in channel])
    latency = rng.lognormal(np.log(base), 0.35)
    tail = rng.random(n) < 0.04
    latency[tail] *= 1 + rng.pareto(1.5, int(tail.sum())) * 3
    return pd.DataFrame({
        "event_time": pd.to_datetime(times).tz_localize(UTC),
        "customer_id": w.c_id[cust], "merchant_id": w.m_id[merch], "category": w.m_cat[merch],
        "amount": np.round(np.maximum(amount, 0.5), 2),
        "currency": [geo.CITY_CURRENCY[c] for c in w.m_city[merch]],
        "payment_method": payment, "channel": channel, "device_type": device,
        "is_new_device": new_device.astype(bool),
        "latitude": np.round(lat, 5), "longitude": np.round(lon, 5), "country": country,
        "distance_km": np.round(geo.haversine_km(w.c_lat[cust], w.c_lon[cust], lat, lon), 2),
        "status": np.where(rng.random(n) < decline_p, "declined", "approved"),
        "latency_ms": np.round(np.minimum(latency, 30000.0), 1),
        "is_fraud": fraud_type != "", "fraud_type": fraud_type,
    })


def _channels(rng: np.random.Generator, cats: np.ndarray) -> np.ndarray:
    kind = np.where(cats == "digital_services", "digital",
                    np.where(np.isin(cats, ["electronics", "travel"]), "big_ticket", "default"))
    out = np.empty(len(cats), dtype=object)
    for k, p in CHANNEL_MIX.items():
        sel = kind == k
        out[sel] = _pick(rng, CHANNELS, p, int(sel.sum()))
    return out


def _median(cats: np.ndarray) -> np.ndarray:
    table = {c.key: c.median_amount for c in CATEGORIES}
    return np.array([table[c] for c in cats])


def simulate(n_rows: int = 50_000, seed: int = 42, start: datetime = datetime(2026, 10, 5, tzinfo=UTC),
             days: int = 28, fraud_rate: float = 0.015, dims: Dimensions | None = None) -> pd.DataFrame:
    """``n_rows`` transactions (sorted by event time, ids ``R0000000…``) with the columns of the reference table."""
    rng = np.random.default_rng(seed)
    w = _World(dims or build_dimensions(), rng)
    n_fraud = int(round(n_rows * fraud_rate))
    parts: list[pd.DataFrame] = []
    # normal traffic
    n = n_rows - n_fraud
    cust = rng.choice(len(w.c_id), size=n, p=w.c_p)
    cat_p = np.array([c.weight for c in CATEGORIES])
    cats = rng.choice(np.array(CATEGORY_KEYS, dtype=object), size=n, p=cat_p / cat_p.sum())
    channel = _channels(rng, cats)
    home = np.where(channel == "in_store", w.c_city[cust], np.array([None] * n, dtype=object))
    merch = _merchants(rng, w, cats, home)
    cats = w.m_cat[merch]  # the merchant actually used decides the category
    sigma = np.array([{c.key: c.sigma for c in CATEGORIES}[k] for k in cats])
    amount = rng.lognormal(np.log(_median(cats) * w.c_factor[cust]), sigma)
    decline = 0.02 + 0.06 * (amount > 5 * _median(cats))
    parts.append(_frame(rng, w, times=_times(rng, start, days, w.c_tz[cust]), cust=cust, merch=merch, amount=amount,
                        channel=channel, new_device=(channel != "in_store") & (rng.random(n) < 0.02),
                        far=np.zeros(n, bool), decline_p=decline, fraud_type=""))
    counts = {k: int(round(n_fraud * share)) for k, share in FRAUD_MIX.items()}
    counts["card_testing"] = n_fraud - sum(v for k, v in counts.items() if k != "card_testing")
    parts += [_card_testing(rng, w, counts["card_testing"], start, days),
              _odd_hours(rng, w, counts["odd_hours_large"], start, days),
              _far_from_home(rng, w, counts["far_from_home"], start, days),
              _new_device(rng, w, counts["new_device"], start, days)]
    df = pd.concat(parts, ignore_index=True).sort_values("event_time", kind="stable", ignore_index=True)
    df.insert(0, "transaction_id", [f"R{i:07d}" for i in range(len(df))])
    return df


def _card_testing(rng: np.random.Generator, w: _World, n: int, start: datetime, days: int) -> pd.DataFrame:
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(min(int(rng.integers(4, 13)), n - sum(sizes)))
    burst = np.repeat(np.arange(len(sizes)), sizes)
    victims = rng.choice(len(w.c_id), size=len(sizes))
    t0 = _times(rng, start, days, w.c_tz[victims])[burst]
    offsets = np.concatenate([np.cumsum(rng.integers(5, 90, size=s)) for s in sizes]) if sizes else np.array([])
    cust = victims[burst]
    cats = rng.choice(np.array(["digital_services", "fashion", "electronics"], dtype=object), size=len(sizes))[burst]
    merch = _merchants(rng, w, cats, None)
    channel = np.full(n, "online", dtype=object)
    return _frame(rng, w, times=t0 + offsets.astype("timedelta64[s]"), cust=cust, merch=merch,
                  amount=rng.uniform(0.5, 4.99, n), channel=channel, new_device=rng.random(n) < 0.7,
                  far=rng.random(len(sizes))[burst] < 0.5, decline_p=0.45, fraud_type="card_testing")


def _odd_hours(rng: np.random.Generator, w: _World, n: int, start: datetime, days: int) -> pd.DataFrame:
    cats = rng.choice(np.array(["electronics", "travel", "fashion"], dtype=object), size=n, p=[0.5, 0.3, 0.2])
    channel = _pick(rng, ("online", "mobile_app"), (0.7, 0.3), n)
    cust = rng.choice(len(w.c_id), size=n)
    return _frame(rng, w, times=_times(rng, start, days, w.c_tz[cust], hours=rng.integers(1, 5, n)),
                  cust=cust, merch=_merchants(rng, w, cats, None),
                  amount=_median(cats) * rng.lognormal(np.log(8), 0.4, n), channel=channel,
                  new_device=rng.random(n) < 0.4, far=rng.random(n) < 0.3, decline_p=0.3,
                  fraud_type="odd_hours_large")


def _far_from_home(rng: np.random.Generator, w: _World, n: int, start: datetime, days: int) -> pd.DataFrame:
    cust = rng.choice(len(w.c_id), size=n)
    cats = rng.choice(np.array(CATEGORY_KEYS, dtype=object), size=n)
    far_cities = np.array([c.name for c in geo.CITIES], dtype=object)[rng.integers(len(geo.CITIES), size=n)]
    # a merchant in a random city; where that is the home city, any merchant of the category instead
    merch = _merchants(rng, w, cats, far_cities)
    same = w.m_city[merch] == w.c_city[cust]
    merch[same] = _merchants(rng, w, cats[same], None)
    return _frame(rng, w, times=_times(rng, start, days, w.c_tz[cust]), cust=cust, merch=merch,
                  amount=_median(cats) * rng.lognormal(np.log(2.5), 0.5, n),
                  channel=np.full(n, "in_store", dtype=object), new_device=np.zeros(n, bool),
                  far=np.ones(n, bool), decline_p=0.25, fraud_type="far_from_home")


def _new_device(rng: np.random.Generator, w: _World, n: int, start: datetime, days: int) -> pd.DataFrame:
    cats = rng.choice(np.array(["electronics", "digital_services", "fashion"], dtype=object), size=n)
    cust = rng.choice(len(w.c_id), size=n)
    return _frame(rng, w, times=_times(rng, start, days, w.c_tz[cust]), cust=cust,
                  merch=_merchants(rng, w, cats, None), amount=_median(cats) * rng.lognormal(np.log(3), 0.5, n),
                  channel=_pick(rng, ("online", "mobile_app"), (0.6, 0.4), n), new_device=np.ones(n, bool),
                  far=rng.random(n) < 0.15, decline_p=0.25, fraud_type="new_device")


def summary(df: pd.DataFrame) -> dict[str, Any]:
    """A few headline figures of a reference table (printed by ``paylake reference``)."""
    return {
        "rows": len(df),
        "fraud_rate": round(float(df["is_fraud"].mean()), 4),
        "decline_rate": round(float((df["status"] == "declined").mean()), 4),
        "median_amount": round(float(df["amount"].median()), 2),
        "p99_latency_ms": round(float(df["latency_ms"].quantile(0.99)), 1),
        "fraud_types": df.loc[df["is_fraud"], "fraud_type"].value_counts().to_dict(),
    }
