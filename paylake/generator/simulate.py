"""The simulation that turns behaviour rows into a stream of card payments (numpy/pandas, no I/O).

Honest payments arrive as a Poisson process at the simulated rate × (1 − fraud rate); ``Population`` picks
each payer (activity × local hour) and keeps where they are; fraud episodes (``episodes``) add theirs.
Each payment then gets its behaviour row and is placed in the world:
  in store   at a merchant of the row's category in the city the customer is in (``Shops``);
  online/app at the customer's device: where they are, displaced by the row's distance (honest
             distances capped at the table's 99.9th percentile: a quick model's tail is not a trip);
  amount     the row's ratio × the category's median in the table × the customer's spend index.
Fraud differs only where its signature says: far_from_home pays in store in a distant city; the other kinds
pay from a device displaced by their (table) distance from the cardholder, which may be abroad.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from paylake.generator import geo, records, sampling
from paylake.generator.dimensions import Dimensions
from paylake.generator.episodes import Episodes, Event
from paylake.generator.population import Population
from paylake.generator.profile import HONEST
from paylake.generator.shops import Shops

FAR_KM = 1000.0  # far_from_home: the city where the card is used is at least this far from the cardholder


@dataclass(frozen=True)
class SimOptions:
    start: float  # epoch seconds of the simulated clock's start
    rate: float  # payments per simulated second


class Simulator:
    def __init__(self, synthesizer: Any, dims: Dimensions, options: SimOptions, rng: np.random.Generator) -> None:
        self.synthesizer, self.rng = synthesizer, rng
        self.profile = sampling.profile_of(synthesizer)
        self.population = Population(dims.customers, self.profile.hours)
        self.shops = Shops(dims.merchants)
        self.episodes = Episodes(self.profile, self.population)
        self.t = options.start
        self.honest_rate = options.rate * (1.0 - self.profile.fraud_rate)
        self.episodes.warm_up(self.t, self.honest_rate, rng)

    def chunk(self, n_honest: int) -> pd.DataFrame:
        """The next ``n_honest`` honest payments and the fraud due meanwhile, by time (column ``t``), each
        with its episode's ``fraud_type`` (``profile.HONEST`` for honest ones; the fact schema has no such
        field, benches and tests read it)."""
        t = self.t + np.cumsum(self.rng.exponential(1.0 / self.honest_rate, n_honest))
        self.episodes.plan(self.t, float(t[-1]), n_honest, self.rng)
        self.t = float(t[-1])
        parts = [self._honest(t)]
        events = self.episodes.due(self.t)
        for kind in sorted({e.kind for e in events}):
            parts.append(self._fraud(kind, [e for e in events if e.kind == kind]))
        return pd.concat(parts, ignore_index=True).sort_values("t", kind="stable", ignore_index=True)

    def _honest(self, t: np.ndarray) -> pd.DataFrame:
        rows = records.fill_missing(sampling.honest(self.synthesizer, len(t), self.rng), self.rng)
        who = self.population.pick(t, self.rng)
        self.population.move(who, t, self.rng)
        distance = np.clip(rows["distance_km"].to_numpy(dtype=float), 0.0, self.profile.distance_cap_km)
        rows = rows.assign(distance_km=distance, is_fraud=False, fraud_type=HONEST)
        return self._place(rows, who, t, self.population.city[who])

    def _fraud(self, kind: str, events: list[Event]) -> pd.DataFrame:
        rows = records.fill_missing(sampling.fraud(self.synthesizer, kind, len(events), self.rng), self.rng)
        who = np.array([e.customer for e in events], dtype=np.int64)
        t = np.array([e.t for e in events])
        city = self.population.city[who]
        if kind == "far_from_home":
            rows = rows.assign(channel="in_store", device_type="pos_terminal")
            city = self._far_cities(who)
        return self._place(rows.assign(is_fraud=True, fraud_type=kind), who, t, city)

    def _far_cities(self, who: np.ndarray) -> np.ndarray:
        km = geo.haversine_km(self.population.lat[who][:, None], self.population.lon[who][:, None],
                              geo.CITY_LAT[None, :], geo.CITY_LON[None, :])
        weight = (km >= FAR_KM) * geo.CITY_WEIGHTS[None, :]
        weight[weight.sum(axis=1) == 0] = geo.CITY_WEIGHTS  # nowhere that far: any city
        return np.array([self.rng.choice(len(geo.CITIES), p=w / w.sum()) for w in weight])

    def _place(self, rows: pd.DataFrame, who: np.ndarray, t: np.ndarray, city: np.ndarray) -> pd.DataFrame:
        """Merchant, location, country, currency and amount of each row paid by ``who`` in ``city``."""
        in_store = rows["channel"].to_numpy(dtype=object) == "in_store"
        cats = rows["category"].to_numpy(dtype=object)
        merchant = np.empty(len(rows), dtype=np.int64)
        merchant[in_store] = self.shops.pick(cats[in_store], city[in_store], self.rng)
        merchant[~in_store] = self.shops.pick(cats[~in_store], None, self.rng)
        pop, shops, n = self.population, self.shops, len(rows)
        lat, lon = geo.displace(pop.lat[who], pop.lon[who], rows["distance_km"].to_numpy(dtype=float), self.rng)
        lat = np.where(in_store, shops.lat[merchant] + self.rng.normal(0, 0.002, n), lat)
        lon = np.where(in_store, shops.lon[merchant] + self.rng.normal(0, 0.002, n), lon)
        category = shops.category[merchant]  # the merchant actually used decides the category
        amount = rows["amount_ratio"].to_numpy(dtype=float) * self.profile.median(category) * pop.spend[who]
        return rows.assign(
            t=t, customer_id=pop.ids[who], merchant_id=shops.ids[merchant], category=category,
            amount=np.maximum(np.round(amount, 2), 0.01), currency=shops.currency[merchant],
            latitude=np.round(lat, 5), longitude=np.round(lon, 5),
            country=np.where(in_store, shops.country[merchant], geo.CITY_COUNTRY[geo.nearest_city(lat, lon)]),
        )
