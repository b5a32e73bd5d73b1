"""The simulated customers: who pays now, and where each customer is (numpy state, one per generator).

* Who: a customer pays with probability ∝ their activity weight (log-normal: a few very active cards, a
  long tail) × the profile's weight of their *local* hour now, so a global population keeps realistic local
  hours at any wall-clock time. Customers are grouped by UTC offset (round(home longitude / 15), the rules'
  own local time); a draw picks a group, then a customer in it by activity (cumulative sums, log-time).
* Where: every customer starts at home. Now and then one leaves for another city and later comes back;
  a move is only taken when the time since the customer's last payment covers the distance at airliner
  speed (``TRAVEL_KMH``), so an honest card never "teleports". Fraud never moves a customer: the fraudster
  is elsewhere, the cardholder is not.
State lives in memory: a restarted generator starts everyone at home (a traveller then "flies" home at
once: at most a few hundred of 500,000 customers are away at any time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from paylake.generator import geo

ACTIVITY_SEED = 11  # activity weights are a property of the population, stable across restarts
ACTIVITY_SIGMA = 0.8
TRAVEL_KMH = 600.0  # door to door by air, below the travel rule's 900 km/h
TRIP_P = 0.004  # chance that a payment at home is the first one of a trip (~1 % of customers away)
RETURN_P = 0.25  # chance that a payment away is the first one back home
CITY_JITTER_DEG = 0.05


class Population:
    def __init__(self, customers: Sequence[dict[str, Any]], hours: Sequence[float]) -> None:
        if not customers:
            raise ValueError("the customers dimension is empty: run `paylake dimensions`")
        docs = sorted(customers, key=lambda d: d["_id"])
        self.ids = np.array([d["_id"] for d in docs], dtype=object)
        self.home_lat = np.array([d["home_latitude"] for d in docs], dtype=float)
        self.home_lon = np.array([d["home_longitude"] for d in docs], dtype=float)
        self.spend = np.array([d.get("spend_index") or 1.0 for d in docs], dtype=float)
        self.home_city = geo.nearest_city(self.home_lat, self.home_lon)
        self.lat, self.lon, self.city = self.home_lat.copy(), self.home_lon.copy(), self.home_city.copy()
        self.last_t = np.full(len(docs), -np.inf)  # epoch seconds of the last honest payment
        self.hours = np.asarray(hours, dtype=float) / float(np.sum(hours))
        activity = np.random.default_rng(ACTIVITY_SEED).lognormal(0.0, ACTIVITY_SIGMA, len(docs))
        tz = geo.utc_offset_h(self.home_lon)
        self.tz_values = np.unique(tz)
        self.members = [np.flatnonzero(tz == z) for z in self.tz_values]
        self.cum = [np.cumsum(activity[m]) for m in self.members]
        self.group_activity = np.array([c[-1] for c in self.cum])

    def __len__(self) -> int:
        return len(self.ids)

    def local_hour(self, t: np.ndarray, idx: np.ndarray) -> np.ndarray:
        return geo.local_hour((np.asarray(t) // 3600 % 24).astype(int), self.lon[idx])

    def _in_group(self, group: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        out = np.empty(len(group), dtype=np.int64)
        for g in np.unique(group):
            sel = np.flatnonzero(group == g)
            cum = self.cum[g]
            out[sel] = self.members[g][np.searchsorted(cum, rng.random(len(sel)) * cum[-1], side="right")]
        return out

    def pick(self, t: np.ndarray, rng: np.random.Generator, local_hours: np.ndarray | None = None) -> np.ndarray:
        """A payer for each time ``t`` (epoch seconds): activity × the hour profile at their local time, or
        only among customers whose local hour is in ``local_hours`` (for night-time fraud)."""
        utc_hour = (np.asarray(t) // 3600 % 24).astype(int)
        group = np.empty(len(utc_hour), dtype=np.int64)
        for h in np.unique(utc_hour):
            local = (h + self.tz_values) % 24
            weight = self.group_activity * (self.hours[local] if local_hours is None else np.isin(local, local_hours))
            if weight.sum() == 0:  # nobody is at such a local hour now: the nearest ones are
                target = np.arange(24) if local_hours is None else np.asarray(local_hours)
                apart = np.abs(local[:, None] - target[None, :])
                apart = np.min(np.minimum(apart, 24 - apart), 1)  # hours apart on the 24-hour clock
                weight = self.group_activity * (apart == apart.min())
            sel = np.flatnonzero(utc_hour == h)
            group[sel] = rng.choice(len(weight), size=len(sel), p=weight / weight.sum())
        return self._in_group(group, rng)

    def next_local(self, t: np.ndarray, local_hours: np.ndarray) -> np.ndarray:
        """Each time ``t`` itself when some customers are at one of ``local_hours`` then, else the same
        minute of the first later hour when some are (the population may leave hours uncovered: the
        reference's cities leave UTC 05, 13, 14 and 19–23 without anyone at local 01–04)."""
        covered = np.array([np.isin((h + self.tz_values) % 24, local_hours).any() for h in range(24)])
        if not covered.any():
            return np.asarray(t)
        hour = (np.asarray(t) // 3600 % 24).astype(int)
        wait = np.array([next(k for k in range(24) if covered[(h + k) % 24]) for h in hour])
        return np.asarray(t) + wait * 3600.0

    def move(self, idx: np.ndarray, t: np.ndarray, rng: np.random.Generator) -> None:
        """Honest payments ``idx`` at times ``t`` (sorted): start or end trips where the gap allows, then
        record the payments. A customer moves at most once per call, at their first payment in it."""
        first_pos = np.unique(idx, return_index=True)[1]
        cust, when = idx[first_pos], t[first_pos]
        away = self.city[cust] != self.home_city[cust]
        leave = ~away & (rng.random(len(cust)) < TRIP_P)
        back = away & (rng.random(len(cust)) < RETURN_P)
        dest = np.where(leave, rng.choice(len(geo.CITIES), size=len(cust), p=geo.CITY_WEIGHTS), self.home_city[cust])
        to_lat = np.where(back, self.home_lat[cust], geo.CITY_LAT[dest] + rng.normal(0, CITY_JITTER_DEG, len(cust)))
        to_lon = np.where(back, self.home_lon[cust], geo.CITY_LON[dest] + rng.normal(0, CITY_JITTER_DEG, len(cust)))
        km = geo.haversine_km(self.lat[cust], self.lon[cust], to_lat, to_lon)
        hours = (when - self.last_t[cust]) / 3600.0
        go = (leave | back) & (dest != self.city[cust]) & (km <= TRAVEL_KMH * hours)
        moving = cust[go]
        self.lat[moving], self.lon[moving], self.city[moving] = to_lat[go], to_lon[go], dest[go]
        np.maximum.at(self.last_t, idx, t)
