"""The reference simulator's documented properties (pure: no servers)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from paylake import schema
from paylake.generator import dimensions, geo, realism, reference


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return reference.simulate(n_rows=20_000, seed=3)


def test_deterministic_for_a_seed() -> None:
    a, b = reference.simulate(2000, seed=5), reference.simulate(2000, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not reference.simulate(2000, seed=6)["amount"].equals(a["amount"])


def test_every_row_is_schema_valid_and_keys_exist(table: pd.DataFrame) -> None:
    dims = dimensions.build_dimensions()
    merchants = {m["_id"]: m for m in dims.merchants}
    customers = {c["_id"] for c in dims.customers}
    rows = table.drop(columns=["category", "distance_km", "fraud_type"]).assign(ingest_time=table["event_time"])
    for record in rows.head(3000).to_dict("records"):
        record["event_time"] = record["event_time"].to_pydatetime()
        record["ingest_time"] = record["ingest_time"].to_pydatetime()
        assert schema.validate(record) == [], record
    assert set(table["merchant_id"]) <= set(merchants)
    assert set(table["customer_id"]) <= customers
    assert table["customer_id"].str.fullmatch(r"C\d{7}").all()  # C0000000…: the live population's prefix
    assert (table["category"] == table["merchant_id"].map(lambda m: merchants[m]["category"])).all()
    assert table["transaction_id"].is_unique and table["event_time"].is_monotonic_increasing


def test_fraud_rate_and_signatures(table: pd.DataFrame) -> None:
    assert 0.01 <= table["is_fraud"].mean() <= 0.02
    fraud = table[table["is_fraud"]]
    assert set(fraud["fraud_type"]) == set(reference.FRAUD_MIX)
    normal = table[~table["is_fraud"]]
    testing = fraud[fraud["fraud_type"] == "card_testing"]
    assert testing["amount"].max() < 5 and (testing["channel"] == "online").all()
    bursts = testing.groupby("customer_id")["event_time"].agg(["count", "min", "max"])
    assert (bursts["count"] >= 4).mean() > 0.8  # bursts, not isolated tiny payments
    odd = fraud[fraud["fraud_type"] == "odd_hours_large"]
    home_lon = odd["customer_id"].map({c["_id"]: c["home_longitude"] for c in dimensions.build_dimensions().customers})
    local = pd.Series(geo.local_hour(odd["event_time"].dt.hour.to_numpy(), home_lon.to_numpy()), index=odd.index)
    # the victim's local night; a night before the first or after the last day is clipped to the table's edge
    edge = odd["event_time"].isin([table["event_time"].min(), table["event_time"].max()])
    assert (local.between(1, 4) | edge).all() and len(odd) > 30
    near = odd["distance_km"] < 100  # the device is near home (30 % of these rows pay from abroad)
    assert near.mean() > 0.5
    assert pd.Series(realism.local_hours(odd[near & ~edge])).between(1, 4).all()
    assert odd["amount"].median() > 5 * normal["amount"].median()
    far = fraud[fraud["fraud_type"] == "far_from_home"]
    assert far["distance_km"].median() > 300 > normal["distance_km"].quantile(0.95)
    assert fraud.loc[fraud["fraud_type"] == "new_device", "is_new_device"].all()
    assert normal["is_new_device"].mean() < 0.03
    assert fraud["status"].eq("declined").mean() > 3 * normal["status"].eq("declined").mean()


def test_amounts_log_normal_per_category(table: pd.DataFrame) -> None:
    normal = table[~table["is_fraud"]]
    medians = normal.groupby("category")["amount"].median()
    configured = {c.key: c.median_amount for c in dimensions.CATEGORIES}
    for key, median in medians.items():
        assert 0.6 * configured[key] < median < 1.6 * configured[key], key
        logs = np.log(normal.loc[normal["category"] == key, "amount"])
        skew = float(((logs - logs.mean()) ** 3).mean() / logs.std() ** 3)
        assert abs(skew) < 0.5, (key, skew)  # log(amount) is roughly symmetric: log-normal, not raw normal


def test_daily_and_weekly_rhythm_and_latency_tail(table: pd.DataFrame) -> None:
    hours = pd.Series(realism.local_hours(table)).value_counts(normalize=True)  # the rhythm is in local time
    assert hours[[2, 3, 4]].sum() * 5 < hours[[12, 18, 19]].sum()
    per_day = table.groupby(table["event_time"].dt.date).size()
    weekday = pd.Series(pd.to_datetime(per_day.index).dayofweek, index=per_day.index)
    assert per_day[weekday == 5].mean() > per_day[weekday == 6].mean()  # Saturday busier than Sunday
    latency = table["latency_ms"]
    assert latency.quantile(0.99) > 4 * latency.median()  # long tail
