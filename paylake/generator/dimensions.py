"""The star schema's dimensions: categories, merchants and customers (built from a seed, seeded idempotently).

``build_dimensions(seed)`` is pure and deterministic: the same seed always gives the same ids, so the
shipped reference table and the dimensions in MongoDB agree. ``seed_dimensions`` upserts them by ``_id``,
so running it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from paylake import clock, names
from paylake.generator.geo import CITIES, CITY_WEIGHTS

DEFAULT_SEED = 7
N_MERCHANTS = 1000  # ~5 per category and city: in-store payments find a shop of the category near the customer
# The reference table's population. Customers are drawn attribute by attribute from their own seeded streams,
# so the first N customers of any larger population are exactly these: the reference's ids resolve in the
# live dimension whatever PAYLAKE_CUSTOMERS is.
REFERENCE_CUSTOMERS = 5000
INSERT_CHUNK = 10_000
SPOT_CHECKS = 64
BASE_SPEND = 45.0  # typical amount of a standard customer; spend_index = typical_amount / BASE_SPEND


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


def customer_id(index: int) -> str:
    return f"C{index:07d}"


def _categories() -> list[dict[str, Any]]:
    return [{"_id": c.key, "name": c.name, "description": c.description,
             "commission_rate": c.commission_rate, "median_amount": c.median_amount} for c in CATEGORIES]


def _merchants(seed: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
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
    return merchants


def _customers(seed: int, n: int) -> list[dict[str, Any]]:
    """``n`` customers, vectorised; each attribute has its own stream so a population's prefix is stable."""
    def stream(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, 100 + k])

    city = stream(0).choice(len(CITIES), size=n, p=CITY_WEIGHTS)
    segment = stream(1).choice(len(SEGMENTS), size=n, p=[0.3, 0.55, 0.15])
    lat = np.array([c.latitude for c in CITIES])[city] + stream(2).normal(0, 0.08, n)
    lon = np.array([c.longitude for c in CITIES])[city] + stream(3).normal(0, 0.08, n)
    factor = np.array([SEGMENT_FACTOR[s] for s in SEGMENTS])[segment]
    spend = np.round(factor * stream(4).lognormal(0, 0.25, n), 3)
    columns = {
        "_id": [customer_id(i) for i in range(n)],
        "home_city": [CITIES[i].name for i in city],
        "home_country": [CITIES[i].country for i in city],
        "home_latitude": np.round(lat, 5).tolist(),
        "home_longitude": np.round(lon, 5).tolist(),
        "typical_amount": np.round(BASE_SPEND * spend, 2).tolist(),
        "spend_index": spend.tolist(),
        "segment": [SEGMENTS[i] for i in segment],
    }
    keys = list(columns)
    return [dict(zip(keys, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def build_dimensions(seed: int = DEFAULT_SEED, customers: int = REFERENCE_CUSTOMERS) -> Dimensions:
    """Categories, ``N_MERCHANTS`` merchants and ``customers`` customers; pure and deterministic."""
    return Dimensions(_categories(), _merchants(seed), _customers(seed, customers))


def seed_dimensions(db: Any, dims: Dimensions | None = None) -> dict[str, int]:
    """Store every dimension document by ``_id`` (idempotent); return how many documents each holds.

    Missing documents are inserted in bulk chunks, changed ones replaced in FerretDB-safe bulk chunks,
    identical ones left alone (upserts run at ~100/s on FerretDB/SQLite, bulk inserts at >10,000/s). The
    stored documents are read with one scan, not an ``$in`` of every id (a million ids is a 12 MB query).
    """
    from pymongo import ReplaceOne

    from paylake.mongo import bulk_write_chunked

    dims = dims or build_dimensions()
    counts = {}
    for collection, docs in ((names.CATEGORIES, dims.categories), (names.MERCHANTS, dims.merchants),
                             (names.CUSTOMERS, dims.customers)):
        stored = {d["_id"]: d for d in db[collection].find({})}
        missing = [dict(d) for d in docs if d["_id"] not in stored]
        for i in range(0, len(missing), INSERT_CHUNK):
            _insert_missing(db[collection], missing[i:i + INSERT_CHUNK])
        changed = [d for d in docs if d["_id"] in stored and stored[d["_id"]] != d]
        bulk_write_chunked(db[collection], [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in changed])
        counts[collection] = db[collection].count_documents({})
    db[names.MERCHANTS].create_index("category")
    return counts


def _insert_missing(collection: Any, docs: list[dict[str, Any]]) -> None:
    from pymongo.errors import BulkWriteError

    from paylake.mongo import DUPLICATE_KEY

    try:
        collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:  # a concurrent seeder got there first: fine unless not a duplicate
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


def ensure_dimensions(db: Any, customers: int = REFERENCE_CUSTOMERS, seed: int = DEFAULT_SEED) -> Dimensions:
    """The dimensions the generator draws from, seeded first when missing or incomplete.

    ``customers`` is the population size (``PAYLAKE_CUSTOMERS``); a larger seeded population is kept. A
    record of what was seeded (seed, sizes; ``names.DIMENSIONS_STATE``) lets a restart rebuild the same
    documents in memory (~1 s) instead of reading them back: 500,000 customers take ~40 s to read from
    FerretDB. Evenly spaced ids are looked up each time, so a dimension emptied or shrunk behind
    paylake's back is seeded again (idempotently: only what is missing or changed is written). Documents
edited in place are not noticed: the dimensions are the seed's, ``paylake dimensions --repair`` restores them.
    """
    state = db[names.DIMENSIONS_STATE].find_one({"_id": "seeded"}) or {}
    if state.get("seed") == seed and state.get("merchants") == N_MERCHANTS:
        customers = max(customers, int(state.get("customers", 0)))
    dims = build_dimensions(seed, customers)
    if _state(seed, customers) == {k: state.get(k) for k in ("seed", "customers", "merchants")} and _complete(db, dims):
        return dims
    reseed(db, dims, seed)
    return dims


def _state(seed: int, customers: int) -> dict[str, int]:
    return {"seed": seed, "customers": customers, "merchants": N_MERCHANTS}


def reseed(db: Any, dims: Dimensions, seed: int = DEFAULT_SEED) -> dict[str, int]:
    """``seed_dimensions`` (every document compared and repaired), then the record ``ensure_dimensions``
    trusts; ``paylake dimensions --repair`` runs this."""
    counts = seed_dimensions(db, dims)
    # The time tells readers that keep dimension documents (the KPI loop's customers) that they may have changed.
    record = {"_id": "seeded", **_state(seed, len(dims.customers)), "at": clock.now()}
    db[names.DIMENSIONS_STATE].replace_one({"_id": "seeded"}, record, upsert=True)
    return counts


def _complete(db: Any, dims: Dimensions, probes: int = SPOT_CHECKS) -> bool:
    """Spot-check evenly spaced ids (first and last included) by ``_id`` lookups: a count of 500,000
    documents scans them all on FerretDB (~25 s), a lookup takes a millisecond."""
    pairs = ((names.CATEGORIES, dims.categories), (names.MERCHANTS, dims.merchants),
             (names.CUSTOMERS, dims.customers))
    for collection, docs in pairs:
        for i in sorted({int(round(x)) for x in np.linspace(0, len(docs) - 1, probes)}):
            if db[collection].find_one({"_id": docs[i]["_id"]}, {"_id": 1}) is None:
                return False
    return True


def load_dimensions(db: Any) -> Dimensions:
    """The dimensions as stored in MongoDB (the generator draws its ids from these, never from memory)."""
    return Dimensions(
        categories=list(db[names.CATEGORIES].find({})),
        merchants=list(db[names.MERCHANTS].find({})),
        customers=list(db[names.CUSTOMERS].find({})),
    )
