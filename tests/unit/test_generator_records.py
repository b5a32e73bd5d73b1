"""Record building, bad-record injection and validation routing (pure: no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest
from generator_support import START, ReplaySynthesizer

from paylake import schema
from paylake.generator import dimensions, ingest, model, records, sampling
from paylake.generator.simulate import SimOptions, Simulator


@pytest.fixture(scope="module")
def placed() -> pd.DataFrame:
    """Rows of a simulated stream (behaviour replayed from the reference, placed by the simulation)."""
    dims = dimensions.build_dimensions(customers=2000)
    sim = Simulator(ReplaySynthesizer(3000, seed=11), dims, SimOptions(start=START, rate=1.0),
                    np.random.default_rng(0))
    return sim.chunk(3000)


def _stamp(batch: list[dict]) -> None:
    now = datetime(2026, 11, 1, tzinfo=UTC)
    for r in batch:
        r.pop("_t")
        r["event_time"] = r["ingest_time"] = now


def test_built_records_are_valid_and_match_the_dimensions(placed: pd.DataFrame) -> None:
    dims = dimensions.build_dimensions(customers=2000)
    batch = records.to_records(placed, "run1", 0)
    assert [r["_t"] for r in batch] == placed["t"].tolist() and placed["t"].is_monotonic_increasing
    _stamp(batch)
    assert len(batch) == len(placed) > 3000  # the honest rows and the fraud due meanwhile
    assert all(schema.validate(r) == [] for r in batch)
    category = {m["_id"]: m["category"] for m in dims.merchants}
    assert [category[r["merchant_id"]] for r in batch] == placed["category"].tolist()
    assert {r["customer_id"] for r in batch} <= {c["_id"] for c in dims.customers}
    assert len({r["transaction_id"] for r in batch}) == len(batch)
    assert batch[0]["transaction_id"] == "run1-0000000000"
    assert [r["amount"] for r in batch] == pytest.approx(placed["amount"].round(2).tolist())


def test_missing_model_columns_are_filled() -> None:
    """A model of a table with only amount and is_fraud: every other behaviour column is drawn simply."""
    synth = ReplaySynthesizer(2000, seed=12, columns=("amount", "is_fraud"))
    assert list(synth.rows.columns) == ["amount_ratio"]
    sim = Simulator(synth, dimensions.build_dimensions(customers=500), SimOptions(start=START, rate=1.0),
                    np.random.default_rng(1))
    batch = records.to_records(sim.chunk(1000), "r", 0)
    _stamp(batch)
    assert all(schema.validate(r) == [] for r in batch)


def test_injected_bad_records_are_exactly_the_invalid_ones(placed: pd.DataFrame) -> None:
    batch = records.to_records(placed, "r", 0)
    _stamp(batch)
    bad = records.inject_bad(batch, 0.2, np.random.default_rng(3))
    valid, invalid = ingest.route(batch)
    assert 0.15 * len(batch) < bad < 0.25 * len(batch)
    assert len(invalid) == bad and len(valid) == len(batch) - bad
    assert all(reasons for _, reasons in invalid)
    assert all(doc["_id"] and "transaction_id" not in doc for doc in valid)


def test_counts_add_up() -> None:
    counts = ingest.Counts(generated=10, inserted=6, duplicate=2, dead_lettered=1, failed=1)
    assert counts.adds_up()
    counts.generated += 1
    assert not counts.adds_up()


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"nope": "amount"}, "not in the CSV"), ({"amt": "price"}, "not paylake columns"), ({}, "no ['amount'")],
)
def test_training_table_errors_name_the_problem(mapping: dict[str, str], message: str) -> None:
    table = pd.DataFrame({"amt": [1.0, 2.0], "is_fraud": [0, 1]})
    with pytest.raises(model.TrainingDataError, match=message.replace("[", r"\[")):
        model.training_frame(table, mapping)


def test_user_table_with_mapping() -> None:
    table = pd.DataFrame({"amt": [1.0, 2.5], "fraud": ["1", "0"], "ts": ["2026-01-01T03:00:00Z"] * 2,
                          "pm": ["credit_card", "bnpl"]})
    frame = model.training_frame(table, {"amt": "amount", "fraud": "is_fraud", "ts": "event_time",
                                         "pm": "payment_method"})
    assert list(frame.columns) == ["amount", "payment_method", "is_fraud", "event_time"]
    assert frame["is_fraud"].tolist() == [True, False]
    assert frame["event_time"].tolist() == [pd.Timestamp("2026-01-01T03:00:00Z")] * 2
    with pytest.raises(model.TrainingDataError, match="outside the schema"):
        model.training_frame(table.assign(pm=["visa", "bnpl"]), {"amt": "amount", "fraud": "is_fraud",
                                                                 "pm": "payment_method"})


def test_dead_letter_doc_is_storable() -> None:
    doc = ingest.dead_letter_doc({"amount": float("nan"), "x": {1, 2}, "n": None}, ["bad"], datetime.now(UTC))
    assert doc["record"] == {"amount": "nan", "x": "{1, 2}", "n": None}
    assert doc["source"] == "generator" and doc["reasons"] == ["bad"]


def test_amount_bins_round_trip() -> None:
    amount = pd.Series(np.random.default_rng(0).lognormal(3, 1, 2000))
    edges = model.amount_edges(amount)
    bins, frac = model.encode_amount(amount, edges)
    # AMOUNT_BINS equal central bins, and the outer ones split at the 0.1/0.5/1/2.5 % quantiles and mirrors
    assert bins.nunique() == model.AMOUNT_BINS + 8
    logs = np.log(amount)
    top = bins == bins.max()
    assert top.mean() == pytest.approx(0.001, abs=0.001) and logs[top].min() >= np.quantile(logs, 0.998)
    assert ((frac >= 0) & (frac <= 1)).all()
    assert model.decode_amount(bins, frac, edges) == pytest.approx(amount.to_numpy())


def test_decode_inverts_the_model_encoding() -> None:
    """Model-space rows (log columns, amount bins, flags as text) decode back to the behaviour rows."""
    rng = np.random.default_rng(4)
    rows = pd.DataFrame({"amount_ratio": rng.lognormal(0, 0.6, 500), "distance_km": rng.lognormal(1, 1, 500),
                         "latency_ms": rng.lognormal(5, 0.4, 500), "is_new_device": rng.random(500) < 0.1})
    edges = model.amount_edges(rows["amount_ratio"])
    data = model.encode(rows).assign(is_new_device=rows["is_new_device"].astype(str))
    data["amount_bin"], data["amount_frac"] = model.encode_amount(data.pop("amount_ratio"), edges)

    class Encoded:
        paylake_info = {"ratio_edges": edges.tolist(), "log_columns": list(model.LOG_COLUMNS)}

    back = sampling.decode(Encoded(), data.assign(fraud_type="none", is_fraud=False))
    assert sorted(back.columns) == sorted(rows.columns)
    pd.testing.assert_frame_equal(back[list(rows.columns)], rows, check_exact=False, rtol=1e-9)
