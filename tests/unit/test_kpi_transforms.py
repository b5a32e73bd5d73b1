"""Pure Spark transforms and rules on a handful of rows (session fixture `spark`; no stores involved)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from factories import make_records

from paylake import schema
from paylake.kpi import buckets, histogram, rules, transforms

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _frames(spark: Any, records: list[dict[str, Any]]) -> tuple[Any, ...]:
    tx = spark.createDataFrame([schema.to_mongo(r) for r in records], schema.spark_schema(mongo=True))
    merchants = spark.createDataFrame(
        [{"_id": "M00000", "name": "A", "category": "grocery", "city": "NYC", "country": "US", "latitude": 40.7,
          "longitude": -74.0, "commission_rate": None},
         {"_id": "M00001", "name": "B", "category": "travel", "city": "NYC", "country": "US", "latitude": 40.7,
          "longitude": -74.0, "commission_rate": 0.05}],
        transforms.merchant_schema(),
    )
    categories = spark.createDataFrame(
        [{"_id": "grocery", "name": "Grocery", "description": "", "commission_rate": 0.01, "median_amount": 30.0},
         {"_id": "travel", "name": "Travel", "description": "", "commission_rate": 0.03, "median_amount": 300.0}],
        transforms.category_schema(),
    )
    customers = spark.createDataFrame(
        [{"_id": "C00000", "home_city": "NYC", "home_country": "US", "segment": "retail", "home_latitude": 40.7,
          "home_longitude": -74.0, "typical_amount": 20.0, "spend_index": 1.0}],
        transforms.customer_schema(),
    )
    return tx, merchants, categories, customers


def _record(i: int, minutes: float, **kw: Any) -> dict[str, Any]:
    (r,) = make_records(1, T0 + timedelta(minutes=minutes), prefix=f"r{i}_")
    r.update({"customer_id": "C00000", "merchant_id": "M00000", "amount": 10.0, "status": "approved",
              "is_fraud": False, "latency_ms": 100.0, "latitude": 40.7, "longitude": -74.0})
    r.update(kw)
    return r


def test_enrich_joins_dimensions_and_falls_back(spark) -> None:  # type: ignore[no-untyped-def]
    records = [
        _record(0, 0, merchant_id="M00000"),  # merchant has no rate: category rate 0.01
        _record(1, 0, merchant_id="M00001", amount=100.0),  # merchant rate 0.05
        _record(2, 0, merchant_id="M99999"),  # unknown merchant: kept, category "unknown", no revenue
        _record(3, 0, merchant_id="M00001", status="declined"),  # declined: no revenue
    ]
    rows = {r["_id"]: r for r in transforms.enrich(*_frames(spark, records)).collect()}
    assert rows["r0_00000000"]["category"] == "grocery" and rows["r0_00000000"]["revenue"] == pytest.approx(0.1)
    assert rows["r1_00000000"]["revenue"] == pytest.approx(5.0)
    assert rows["r2_00000000"]["category"] == "unknown" and rows["r2_00000000"]["revenue"] == 0.0
    assert rows["r3_00000000"]["revenue"] == 0.0 and rows["r3_00000000"]["approved_amount"] == 0.0
    assert rows["r0_00000000"]["minute_s"] == int(T0.timestamp())
    # expected amount: grocery median 30 × spend_index 1.0; unknown merchant: the customer's typical 20
    assert rows["r0_00000000"]["expected_amount"] == pytest.approx(30.0)
    assert rows["r2_00000000"]["expected_amount"] == pytest.approx(20.0)


def test_expected_amount_scales_the_category_median_by_the_customers_spend(spark) -> None:  # type: ignore[no-untyped-def]
    records = [
        _record(0, 0, customer_id="C00003"),  # grocery 30 × spend_index 2.0
        _record(1, 0, customer_id="C00009", merchant_id="M00001"),  # unknown customer: the travel median
        _record(2, 0, customer_id="C00004"),  # customer without a spend_index: the median, not its typical
        _record(3, 0, customer_id="C00003", merchant_id="M99999"),  # unknown category: the typical amount
        _record(4, 0, customer_id="C00009", merchant_id="M99999", amount=1e6),  # neither: null, never flagged
    ]
    tx, merchants, categories, _ = _frames(spark, records)
    customers = spark.createDataFrame(
        [{"_id": f"C0000{i}", "home_city": "NYC", "home_country": "US", "segment": "retail", "home_latitude": 40.7,
          "home_longitude": -74.0, "typical_amount": typical, "spend_index": index}
         for i, typical, index in ((1, 20.0, 0.5), (3, 80.0, 2.0), (4, 50.0, None))],
        transforms.customer_schema(),
    )
    flagged = rules.flag(transforms.enrich(tx, merchants, categories, customers)).collect()
    rows = {r["_id"][:2]: r["expected_amount"] for r in flagged}
    assert rows == {"r0": pytest.approx(60.0), "r1": pytest.approx(300.0), "r2": pytest.approx(30.0),
                    "r3": pytest.approx(80.0), "r4": None}
    assert [r["rules"] for r in flagged if r["_id"].startswith("r4")] == [[]]


def test_latency_buckets_match_python_on_every_edge(spark) -> None:  # type: ignore[no-untyped-def]
    """On every bucket edge and two floats either side of it (log10 alone disagreed on 24 of these): Spark
    decides the bucket away from the edges and leaves the ones at an edge to Python, and the folded
    histogram equals Python's."""
    from pyspark.sql import functions as F

    plain = [0.0, 0.005, 0.5, 1.2, 9.99, 123.4, 530.9, 5000.0, 2e6, 1e300]
    values = [*plain, 1.0, 10.0]
    for edge in histogram.EDGES:
        below, above = math.nextafter(edge, 0), math.nextafter(edge, math.inf)
        values += [math.nextafter(below, 0), below, edge, above, math.nextafter(above, math.inf)]
    df = spark.createDataFrame([(v,) for v in values], "x double")
    got = [r["b"] for r in df.select(transforms.latency_bucket(F.col("x")).alias("b")).collect()]
    assert all(g in (histogram.bucket_of(v), transforms.UNRESOLVED) for g, v in zip(got, values, strict=True))
    assert got[: len(plain)] == [histogram.bucket_of(v) for v in plain], "away from the edges Spark decides"
    zero = dict.fromkeys([*buckets.SUMS, "revenue", *[f"rule_{r}" for r in rules.RULES]], 0)
    cells = [zero | {"minute_s": 0, "slot_s": None, "category": "c", "latency_bucket": g, "count": 1,
                     "edge_latencies": [v] if g == transforms.UNRESOLVED else []}
             for g, v in zip(got, values, strict=True)]
    assert buckets.fold(cells)[0].hist == histogram.of(values)

def test_rules_fire_on_their_cases(spark) -> None:  # type: ignore[no-untyped-def]
    config = rules.RuleConfig(velocity_max_tx=3, velocity_window_min=10)
    records = [
        # Customer C00000 in New York, daytime (12:00 UTC = ~07:00 local at -74°): 4 tx within 3 minutes.
        _record(0, 0), _record(1, 1), _record(2, 2),
        _record(3, 3),  # 4th within 10 min: velocity
        _record(4, 30, amount=150.0),  # > 4 × expected 30 (grocery median × this customer's spend_index 1): amount
        _record(5, 40, latitude=51.5, longitude=-0.1),  # London 10 min after New York: travel
        _record(6, 400, latitude=51.5, longitude=-0.1),  # 18:40 UTC in London: nothing
        _record(7, 0, customer_id="C00009", longitude=135.0),  # 12:00 UTC at 135°E = 21:00 local: nothing
        # 12:00 UTC at 150°W = 02:00 local, 100 > 3 × the category median 30 (no customer): odd hour
        _record(8, 0, customer_id="C00008", longitude=-150.0, amount=100.0),
        _record(9, 0, customer_id="C00007", amount=5000.0),  # no customer: category median 30 × 4 < 5000
        _record(10, 0, customer_id="C00006", longitude=-150.0, amount=80.0),  # 02:00 local, 80 < 3 × 30
    ]
    tx, merchants, categories, customers = _frames(spark, records)
    out = rules.flag(transforms.enrich(tx, merchants, categories, customers), config)
    fired = {r["_id"].split("_")[0]: sorted(r["rules"]) for r in out.collect()}
    assert fired == {
        "r0": [], "r1": [], "r2": [], "r3": ["velocity"], "r4": ["amount"], "r5": ["travel"], "r6": [],
        "r7": [], "r8": ["odd_hour"], "r9": ["amount"], "r10": [],
    }


def test_minute_cells_fold_into_buckets(spark) -> None:  # type: ignore[no-untyped-def]
    records = [_record(i, i / 4, latency_ms=50.0 * (i + 1), is_fraud=i == 0) for i in range(8)]  # 2 minutes
    tx, merchants, categories, customers = _frames(spark, records)
    flagged = rules.flag(transforms.enrich(tx, merchants, categories, customers))
    folded = buckets.fold(transforms.minute_cells(flagged).collect())
    assert [b.minute for b in folded] == [T0, T0 + timedelta(minutes=1)]
    first, second = folded
    assert (first.count, second.count) == (4, 4)
    assert first.fraud_count == 1 and first.amount == 40.0 and first.latency_sum == 50 + 100 + 150 + 200
    assert sum(first.hist.values()) == 4 and first.revenue == {"grocery": pytest.approx(0.4)}


def test_merchant_dimension_is_one_row_per_merchant_with_its_category(spark) -> None:  # type: ignore[no-untyped-def]
    _, merchants, categories, _ = _frames(spark, [_record(0, 0)])
    orphan = spark.createDataFrame(
        [{"_id": "M00002", "name": "C", "category": "nowhere", "city": "NYC", "country": "US", "latitude": 40.7,
          "longitude": -74.0, "commission_rate": 0.02}], transforms.merchant_schema())
    rows = {r["merchant_id"]: r for r in transforms.merchant_dimension(merchants.unionByName(orphan), categories)
            .collect()}
    assert sorted(rows) == ["M00000", "M00001", "M00002"]
    assert (rows["M00000"]["m_rate"], rows["M00000"]["c_rate"], rows["M00000"]["median_amount"]) == (None, 0.01, 30.0)
    assert (rows["M00001"]["m_rate"], rows["M00001"]["median_amount"]) == (0.05, 300.0)
    # A category missing from its dimension: the merchant stays, with no category figures.
    assert (rows["M00002"]["m_category"], rows["M00002"]["c_rate"], rows["M00002"]["median_amount"]) == (
        "nowhere", None, None)
