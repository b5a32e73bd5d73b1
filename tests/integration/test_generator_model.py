"""A quick CTGAN model trained on the shipped reference table keeps its fraud rate and amount distribution,
and what it generates into the real server is valid against the dimensions."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest
from scipy.stats import ks_2samp

from paylake import names
from paylake.generator import commands, dimensions, model, stream
from paylake.settings import Settings

# Two-sample KS statistic between model and reference amounts. With 20,000 draws the KS test's 0.1% critical
# value is ~0.02, a bar no GAN trained for seconds clears, so we bound the *size* of the gap instead: 0.15
# means no amount quantile is off by more than 15 percentile points. Errors this guards against measured
# far above it: raw (unlogged) amounts 0.21-0.25, a unit slip (cents/dollars) ~1.0, a collapsed category mix
# ~0.3; quick models we trained measured 0.05-0.12.
KS_MAX = 0.15
FRAUD_TOLERANCE = 0.005  # ±0.5 percentage points


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    return model.training_frame(pd.read_csv(commands.REFERENCE_CSV))


def test_quick_model_keeps_fraud_rate_and_amounts(settings: Settings, mongo_db: Any,
                                                  reference_frame: pd.DataFrame) -> None:
    subset = reference_frame.sample(6000, random_state=0)  # fewer rows than --quick: keeps the test short
    model.save(model.train(subset, epochs=model.QUICK.epochs, seed=1), settings.model_file)
    synth = model.load(settings.model_file)
    model.speed_up_sampling(synth)
    samples = model.sample(synth, 20_000, seed=1)

    assert abs(samples["is_fraud"].mean() - reference_frame["is_fraud"].mean()) <= FRAUD_TOLERANCE
    ks = ks_2samp(reference_frame["amount"], samples["amount"]).statistic
    assert ks < KS_MAX, f"amount KS {ks:.3f}"
    assert set(samples["category"]) <= set(dimensions.CATEGORY_KEYS)

    # generate from the saved model (the path `paylake generate` takes) into the real server
    counts = stream.run(settings, count=3000, seed=4, progress=False)
    assert counts.inserted == 3000 and counts.adds_up()
    merchants = {m["_id"]: m for m in mongo_db[names.MERCHANTS].find({})}
    categories = {c["_id"] for c in mongo_db[names.CATEGORIES].find({})}
    customers = {c["_id"] for c in mongo_db[names.CUSTOMERS].find({}, {"_id": 1})}
    facts = list(mongo_db[names.TRANSACTIONS].find({}, {"merchant_id": 1, "customer_id": 1}))
    assert len(facts) == 3000
    assert all(f["merchant_id"] in merchants and f["customer_id"] in customers for f in facts)
    assert {merchants[f["merchant_id"]]["category"] for f in facts} <= categories
