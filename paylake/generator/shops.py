"""Merchants by city and category, for payments where the customer is (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from paylake.generator import geo


class Shops:
    def __init__(self, merchants: Sequence[dict[str, Any]]) -> None:
        if not merchants:
            raise ValueError("the merchants dimension is empty: run `paylake dimensions`")
        docs = sorted(merchants, key=lambda d: d["_id"])
        self.ids = np.array([d["_id"] for d in docs], dtype=object)
        self.category = np.array([d["category"] for d in docs], dtype=object)
        self.lat = np.array([d["latitude"] for d in docs], dtype=float)
        self.lon = np.array([d["longitude"] for d in docs], dtype=float)
        self.city = geo.nearest_city(self.lat, self.lon)
        self.currency = np.array([geo.CITY_CURRENCY.get(d.get("city", ""), geo.CITIES[c].currency)
                                  for d, c in zip(docs, self.city, strict=True)], dtype=object)
        self.country = np.array([d.get("country") or geo.CITIES[c].country
                                 for d, c in zip(docs, self.city, strict=True)], dtype=object)
        self.categories = tuple(sorted(set(self.category)))
        self.by_cat = {k: np.flatnonzero(self.category == k) for k in self.categories}
        self.by_city = {c: np.flatnonzero(self.city == c) for c in range(len(geo.CITIES))}
        self.by_cat_city = {(k, c): np.flatnonzero((self.category == k) & (self.city == c))
                            for k in self.categories for c in range(len(geo.CITIES))}

    def _one(self, pool: np.ndarray | None, rng: np.random.Generator) -> int | None:
        return None if pool is None or len(pool) == 0 else int(pool[rng.integers(len(pool))])

    def pick(self, cats: np.ndarray, cities: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """A merchant per row: of the row's category in the row's city (``cities`` None: anywhere, as
        online); another shop of that city when it has none of the category; any of the category when the
        city has no shop at all. A category without merchants becomes any merchant's."""
        out = np.empty(len(cats), dtype=np.int64)
        for i, cat in enumerate(cats):
            pool = self.by_cat.get(cat)
            if pool is None:
                pool = np.arange(len(self.ids))
            if cities is not None:
                local = self._one(self.by_cat_city.get((cat, int(cities[i]))), rng)
                local = local if local is not None else self._one(self.by_city.get(int(cities[i])), rng)
                if local is not None:
                    out[i] = local
                    continue
            out[i] = pool[rng.integers(len(pool))]
        return out
