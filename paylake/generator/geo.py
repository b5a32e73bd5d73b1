"""Cities the simulated populations live in, and vectorised distance helpers (pure, numpy only)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

EARTH_RADIUS_KM = 6371.0


class City(NamedTuple):
    name: str
    country: str
    currency: str
    latitude: float
    longitude: float
    weight: float  # share of the population living there


# Currencies of similar unit value (USD, EUR, GBP, CAD, AUD, CHF), so amounts stay comparable without FX.
CITIES: tuple[City, ...] = (
    City("New York", "US", "USD", 40.7128, -74.0060, 8.0),
    City("Los Angeles", "US", "USD", 34.0522, -118.2437, 5.0),
    City("Chicago", "US", "USD", 41.8781, -87.6298, 4.0),
    City("Houston", "US", "USD", 29.7604, -95.3698, 3.0),
    City("Miami", "US", "USD", 25.7617, -80.1918, 2.0),
    City("San Francisco", "US", "USD", 37.7749, -122.4194, 2.5),
    City("Seattle", "US", "USD", 47.6062, -122.3321, 2.0),
    City("Toronto", "CA", "CAD", 43.6532, -79.3832, 3.0),
    City("Vancouver", "CA", "CAD", 49.2827, -123.1207, 1.5),
    City("London", "GB", "GBP", 51.5074, -0.1278, 5.0),
    City("Manchester", "GB", "GBP", 53.4808, -2.2426, 1.5),
    City("Paris", "FR", "EUR", 48.8566, 2.3522, 4.0),
    City("Berlin", "DE", "EUR", 52.5200, 13.4050, 3.0),
    City("Munich", "DE", "EUR", 48.1351, 11.5820, 1.5),
    City("Madrid", "ES", "EUR", 40.4168, -3.7038, 2.5),
    City("Rome", "IT", "EUR", 41.9028, 12.4964, 2.0),
    City("Amsterdam", "NL", "EUR", 52.3676, 4.9041, 1.5),
    City("Dublin", "IE", "EUR", 53.3498, -6.2603, 1.0),
    City("Zurich", "CH", "CHF", 47.3769, 8.5417, 1.0),
    City("Sydney", "AU", "AUD", -33.8688, 151.2093, 2.5),
    City("Melbourne", "AU", "AUD", -37.8136, 144.9631, 2.0),
)
CITY_CURRENCY = {c.name: c.currency for c in CITIES}
CITY_LAT = np.array([c.latitude for c in CITIES])
CITY_LON = np.array([c.longitude for c in CITIES])
CITY_COUNTRY = np.array([c.country for c in CITIES], dtype=object)
CITY_WEIGHTS = np.array([c.weight for c in CITIES]) / sum(c.weight for c in CITIES)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km, element-wise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def displace(
    lat: np.ndarray, lon: np.ndarray, distance_km: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Points ``distance_km`` away from (lat, lon) in a random bearing; latitude clipped, longitude wrapped."""
    bearing = rng.uniform(0, 2 * np.pi, size=len(lat))
    delta = np.asarray(distance_km, dtype=float) / EARTH_RADIUS_KM
    p1, l1 = np.radians(lat), np.radians(lon)
    p2 = np.arcsin(np.sin(p1) * np.cos(delta) + np.cos(p1) * np.sin(delta) * np.cos(bearing))
    l2 = l1 + np.arctan2(np.sin(bearing) * np.sin(delta) * np.cos(p1), np.cos(delta) - np.sin(p1) * np.sin(p2))
    new_lat = np.clip(np.degrees(p2), -89.9, 89.9)
    new_lon = (np.degrees(l2) + 180.0) % 360.0 - 180.0
    return new_lat, new_lon


def nearest_city(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Index into CITIES of the city nearest to each point."""
    dist = haversine_km(lat[:, None], lon[:, None], CITY_LAT[None, :], CITY_LON[None, :])
    return np.asarray(dist.argmin(axis=1))


def utc_offset_h(longitude: np.ndarray) -> np.ndarray:
    """Hours ahead of UTC by solar time, round(longitude / 15): the fraud rules' own local-time approximation
    (no time-zone database; off by up to ~1 h near zone borders)."""
    return np.asarray(np.round(np.asarray(longitude, dtype=float) / 15.0).astype(int))


def local_hour(utc_hour: np.ndarray, longitude: np.ndarray) -> np.ndarray:
    """Local hour of day (0–23) of a UTC hour at ``longitude``."""
    return np.asarray((np.asarray(utc_hour, dtype=int) + utc_offset_h(longitude)) % 24)
