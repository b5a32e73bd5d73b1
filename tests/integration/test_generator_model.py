"""A quick CTGAN model trained on the shipped reference table keeps its fraud rate and the distribution of
honest amounts relative to the customer and category, and what it generates into the real server is valid
against the dimensions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest
from scipy.stats import ks_2samp

from paylake import names
from paylake.data import REFERENCE_CSV
from paylake.generator import dimensions, model, realism, sampling, stream
from paylake.generator import profile as profiles
from paylake.settings import Settings

# Two-sample KS statistic between model and reference honest amount ratios (amount / (category median ×
# the customer's spend index), what the model learns). With 20,000 draws the KS test's 0.1% critical
# value is ~0.02, a bar no GAN trained for seconds clears, so we bound the *size* of the gap instead: 0.15
# means no amount quantile is off by more than 15 percentile points. Errors this guards against measured
# far above it: raw (unlogged) amounts 0.21-0.25, a unit slip (cents/dollars) ~1.0, a collapsed category mix
# ~0.3; quick models we trained measured 0.05-0.12.
KS_MAX = 0.15
FRAUD_TOLERANCE = 0.005  # ±0.5 percentage points
CUSTOMERS = 20_000  # the default 500,000 would take a minute to seed into the test database


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return model.training_frame(pd.read_csv(REFERENCE_CSV))


def test_quick_model_keeps_fraud_rate_and_amounts(settings: Settings, mongo_db: Any,
                                                  reference_frame: pd.DataFrame) -> None:
    subset = reference_frame.sample(6000, random_state=0)  # fewer rows than --quick: keeps the test short
    model.save(model.train(subset, epochs=model.QUICK.epochs, seed=1), settings.model_file)
    synth = model.load(settings.model_file)
    model.speed_up_sampling(synth)
    samples = sampling.sample(synth, 20_000, seed=1)

    assert abs(samples["is_fraud"].mean() - reference_frame["is_fraud"].mean()) <= FRAUD_TOLERANCE
    assert set(samples["fraud_type"]) == {profiles.HONEST, *profiles.FRAUD_TYPES}
    learned = sampling.profile_of(synth)
    real = profiles.behaviour(reference_frame, learned, model.reference_spend())
    real_honest = real.loc[real["fraud_type"] == profiles.HONEST, "amount_ratio"]
    honest = samples[~samples["is_fraud"]]
    ks = ks_2samp(real_honest, honest["amount_ratio"]).statistic
    assert ks < KS_MAX, f"honest amount ratio KS {ks:.3f}"
    assert set(honest["category"]) <= set(dimensions.CATEGORY_KEYS)
    assert honest["distance_km"].quantile(0.5) < 50 and honest["latency_ms"].min() > 0

    # generate from the saved model (the path `paylake generate` takes) into the real server: a paced run
    # over a simulated hour and a half, each record stamped with its simulated time
    small = settings.with_overrides(customers=CUSTOMERS)
    counts = stream.run(small, count=3000, rate=3000, start=datetime(2026, 10, 5, tzinfo=UTC), speedup=3600,
                        seed=4, progress=False)
    assert counts.inserted == 3000 and counts.adds_up()
    merchants = {m["_id"]: m for m in mongo_db[names.MERCHANTS].find({})}
    categories = {c["_id"] for c in mongo_db[names.CATEGORIES].find({})}
    customers = {c["_id"] for c in mongo_db[names.CUSTOMERS].find({}, {"_id": 1})}
    assert len(customers) == CUSTOMERS
    facts = pd.DataFrame(mongo_db[names.TRANSACTIONS].find({}))
    assert len(facts) == 3000
    assert facts["merchant_id"].isin(merchants).all() and facts["customer_id"].isin(customers).all()
    assert {merchants[m]["category"] for m in facts["merchant_id"]} <= categories
    assert 0.5 < (facts["event_time"].max() - facts["event_time"].min()).total_seconds() / 3600 < 1.5
    assert realism.impossible_travel_share(facts) <= 0.001
    assert realism.honest_burst_share(facts) <= 0.001
