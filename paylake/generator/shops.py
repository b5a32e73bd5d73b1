"""Merchants by city and category, for payments where the customer is (pure numpy)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

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

    def _pool(self, cat: str, city: int) -> np.ndarray:
        """Merchants to draw from: of ``cat`` in ``city`` (-1: anywhere); another shop of that city when it
        has none of the category; any of the category when the city has no shop; any merchant for a
        category without merchants."""
        if city >= 0:
            for pool in (self.by_cat_city.get((cat, city)), self.by_city.get(city)):
                if pool is not None and len(pool):
                    return pool
        pool = self.by_cat.get(cat)
        return pool if pool is not None else np.arange(len(self.ids))

    def pick(self, cats: np.ndarray, cities: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
        """A merchant per row from ``_pool`` (``cities`` None: online, anywhere). Rows are drawn per
        (category, city) group, a few hundred groups per chunk instead of a Python step per row."""
        out = np.empty(len(cats), dtype=np.int64)
        if not len(cats):
            return out
        city = np.full(len(cats), -1) if cities is None else np.asarray(cities, dtype=np.int64)
        groups = pd.DataFrame({"cat": np.asarray(cats, dtype=object), "city": city}).groupby(["cat", "city"]).indices
        for (cat, where), rows in groups.items():
            pool = self._pool(cat, int(where))
            out[rows] = pool[rng.integers(len(pool), size=len(rows))]
        return out
