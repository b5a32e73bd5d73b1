"""The star schema's dimensions: categories, merchants and customers (built from a seed, seeded idempotently).

``build_dimensions(seed)`` is pure and deterministic: the same seed always gives the same ids, so the
shipped reference table and the dimensions in MongoDB agree. ``seed_dimensions`` upserts them by ``_id``,
so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from paylake import names
from paylake.generator.geo import CITIES, CITY_WEIGHTS

DEFAULT_SEED = 7
N_MERCHANTS = 400
N_CUSTOMERS = 5000


class Category(NamedTuple):
    key: str
    name: str
    description: str
    commission_rate: float
    median_amount: float
    sigma: float  # spread of log(amount)
    weight: float  # share of normal transactions


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", "Grocery", "Supermarkets and food stores", 0.015, 38.0, 0.55, 0.22),
    Category("restaurants", "Restaurants", "Restaurants, cafés and food delivery", 0.022, 27.0, 0.60, 0.17),
    Category("fuel", "Fuel", "Petrol stations and EV charging", 0.012, 48.0, 0.35, 0.09),
    Category("fashion", "Fashion", "Clothing, shoes and accessories", 0.028, 72.0, 0.70, 0.10),
    Category("electronics", "Electronics", "Computers, phones and appliances", 0.025, 185.0, 0.90, 0.06),
    Category("travel", "Travel", "Airlines, hotels and car rental", 0.030, 340.0, 0.85, 0.05),
    Category("entertainment", "Entertainment", "Cinemas, concerts and games", 0.027, 42.0, 0.60, 0.08),
    Category("health", "Health", "Pharmacies and clinics", 0.018, 55.0, 0.65, 0.07),
    Category("home_garden", "Home & garden", "Furniture, DIY and garden", 0.024, 95.0, 0.80, 0.06),
    Category("digital_services", "Digital services", "Subscriptions, apps and cloud", 0.035, 14.0, 0.70, 0.10),
)
CATEGORY_KEYS: tuple[str, ...] = tuple(c.key for c in CATEGORIES)
SEGMENTS = ("budget", "standard", "premium")
SEGMENT_FACTOR = {"budget": 0.7, "standard": 1.0, "premium": 1.8}


@dataclass(frozen=True)
class Dimensions:
    """Dimension documents exactly as stored in MongoDB (``_id`` is the key)."""

    categories: list[dict[str, Any]]
    merchants: list[dict[str, Any]]
    customers: list[dict[str, Any]]


def build_dimensions(seed: int = DEFAULT_SEED) -> Dimensions:
    rng = np.random.default_rng(seed)
    categories = [
        {"_id": c.key, "name": c.name, "description": c.description,
         "commission_rate": c.commission_rate, "median_amount": c.median_amount}
        for c in CATEGORIES
    ]
    cat_weights = np.array([c.weight for c in CATEGORIES])
    merchant_cats = rng.choice(len(CATEGORIES), size=N_MERCHANTS, p=cat_weights / cat_weights.sum())
    merchant_cities = rng.choice(len(CITIES), size=N_MERCHANTS, p=CITY_WEIGHTS)
    merchants = []
    for i, (ci, ti) in enumerate(zip(merchant_cats, merchant_cities, strict=True)):
        cat, city = CATEGORIES[ci], CITIES[ti]
        merchants.append({
            "_id": f"M{i:05d}",
            "name": f"{city.name} {cat.name} #{i}",
            "category": cat.key,
            "city": city.name,
            "country": city.country,
            "latitude": round(city.latitude + float(rng.normal(0, 0.05)), 5),
            "longitude": round(city.longitude + float(rng.normal(0, 0.05)), 5),
            "commission_rate": round(cat.commission_rate * float(rng.uniform(0.85, 1.15)), 4),
        })
    customer_cities = rng.choice(len(CITIES), size=N_CUSTOMERS, p=CITY_WEIGHTS)
    segments = rng.choice(len(SEGMENTS), size=N_CUSTOMERS, p=[0.3, 0.55, 0.15])
    customers = []
    for i, (ti, si) in enumerate(zip(customer_cities, segments, strict=True)):
        city, segment = CITIES[ti], SEGMENTS[si]
        customers.append({
            "_id": f"C{i:06d}",
            "home_city": city.name,
            "home_country": city.country,
            "home_latitude": round(city.latitude + float(rng.normal(0, 0.08)), 5),
            "home_longitude": round(city.longitude + float(rng.normal(0, 0.08)), 5),
            "typical_amount": round(45.0 * SEGMENT_FACTOR[segment] * float(rng.lognormal(0, 0.25)), 2),
            "segment": segment,
        })
    return Dimensions(categories, merchants, customers)


def seed_dimensions(db: Any, dims: Dimensions | None = None) -> dict[str, int]:
    """Store every dimension document by ``_id`` (idempotent); return how many documents each holds.

    Missing documents are inserted in bulk, changed ones replaced in FerretDB-safe bulk chunks, identical ones
    left alone (upserts run at ~100/s on FerretDB/SQLite, bulk inserts at >10,000/s).
    """
    from pymongo import ReplaceOne
    from pymongo.errors import BulkWriteError

    from paylake.mongo import DUPLICATE_KEY, bulk_write_chunked

    dims = dims or build_dimensions()
    counts = {}
    for collection, docs in ((names.CATEGORIES, dims.categories), (names.MERCHANTS, dims.merchants),
                             (names.CUSTOMERS, dims.customers)):
        stored = {d["_id"]: d for d in db[collection].find({"_id": {"$in": [d["_id"] for d in docs]}})}
        missing = [dict(d) for d in docs if d["_id"] not in stored]
        if missing:
            try:
                db[collection].insert_many(missing, ordered=False)
            except BulkWriteError as exc:  # a concurrent seeder got there first: fine unless not a duplicate
                if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
                    raise
        changed = [d for d in docs if d["_id"] in stored and stored[d["_id"]] != d]
        bulk_write_chunked(db[collection], [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in changed])
        counts[collection] = db[collection].count_documents({})
    db[names.MERCHANTS].create_index("category")
    return counts


def ensure_dimensions(db: Any) -> Dimensions:
    """The stored dimensions, seeded first when an expected document is missing (one read when none is)."""
    stored, dims = load_dimensions(db), build_dimensions()
    pairs = ((dims.categories, stored.categories), (dims.merchants, stored.merchants),
             (dims.customers, stored.customers))
    if all({d["_id"] for d in expected} <= {d["_id"] for d in have} for expected, have in pairs):
        return stored
    seed_dimensions(db, dims)
    return load_dimensions(db)


def load_dimensions(db: Any) -> Dimensions:
    """The dimensions as stored in MongoDB (the generator draws its ids from these, never from memory)."""
    return Dimensions(
        categories=list(db[names.CATEGORIES].find({})),
        merchants=list(db[names.MERCHANTS].find({})),
        customers=list(db[names.CUSTOMERS].find({})),
    )
