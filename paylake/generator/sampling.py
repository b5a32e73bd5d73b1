"""Behaviour rows for the simulation: honest ones from the CTGAN model, fraud ones by kind.

Honest rows are sampled from CTGAN unconditionally in bulk (~86,000 rows/s). Fraud rows of a kind are
resampled from the training table's own fraud rows of that kind, saved with the model (``model.py``'s note
on fraud rows says why: the quick model does not learn the kinds' signatures, measured).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from paylake.generator import model
from paylake.generator import profile as profiles

MAX_TOP_UPS = 4


def _info(synthesizer: Any) -> dict[str, Any]:
    return getattr(synthesizer, "paylake_info", None) or {}


def profile_of(synthesizer: Any) -> profiles.StreamProfile:
    """The profile saved with the model (a model without one: the reference's documented defaults)."""
    info = _info(synthesizer)
    if "profile" in info:
        return profiles.StreamProfile.from_dict(info["profile"])
    from paylake.generator.dimensions import CATEGORIES

    medians = {c.key: c.median_amount for c in CATEGORIES} | {"*": 45.0}
    return profiles.StreamProfile(fraud_rate=float(info.get("fraud_rate") or 0.015), category_median=medians)


def _flags(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin(("true", "1", "1.0"))


def decode(synthesizer: Any, raw: pd.DataFrame) -> pd.DataFrame:
    """Model-space rows → behaviour rows (ratio from its bin, log columns back, flags as booleans)."""
    info = _info(synthesizer)
    df = raw.reset_index(drop=True).copy()
    for column in info.get("log_columns", []):
        df[column] = np.expm1(df[column].astype(float))
    if "ratio_edges" in info:  # standard scores within the category (model.train), back to ratios
        z = np.log(model.decode_amount(df.pop("amount_bin"), df.pop("amount_frac"), info["ratio_edges"]))
        if "z_quantiles" in info:
            z = calibrate(z, np.asarray(info["z_quantiles"]))
        df["amount_ratio"] = np.exp(z * profile_of(synthesizer).spread(model.categories(df)))
    if "is_new_device" in df.columns:
        df["is_new_device"] = _flags(df["is_new_device"])
    df["amount_ratio"] = df["amount_ratio"].astype(float).clip(lower=1e-4)
    return df.drop(columns=["fraud_type", "is_fraud"], errors="ignore")


def calibrate(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """``values`` replaced by the table's quantiles at their ranks (mid-ranks: one value maps to the median);
    see ``model.QUANTILES``."""
    if len(values) == 0:
        return values
    ranks = (np.argsort(np.argsort(values, kind="stable"), kind="stable") + 0.5) / len(values)
    return np.interp(ranks, np.linspace(0, 1, len(quantiles)), quantiles)


def _draw(synthesizer: Any, rows: int) -> pd.DataFrame:
    out = synthesizer.sample(rows)
    return decode(synthesizer, out[model.TABLE] if isinstance(out, dict) else out)


def honest(synthesizer: Any, rows: int, rng: np.random.Generator | None = None) -> pd.DataFrame:
    """``rows`` honest behaviour rows from the model, in the table's mix of channels.

    The channel decides where a payment happens (in a shop near the customer, or at their device), and a
    quick model gets its mix wrong (measured: 39–43 % in store against the table's 51 %). So the rows are
    taken per channel from a larger draw, as many of each as the table's mix asks; every other column,
    and its dependence on the channel, is the model's own.
    """
    mix = profile_of(synthesizer).channel_mix
    if not mix or rows <= 0:
        return _draw(synthesizer, rows)
    rng = rng or np.random.default_rng()
    want = dict(zip(mix, rng.multinomial(rows, list(mix.values())), strict=True))
    pool = _draw(synthesizer, int(rows * 1.3) + 50)
    for _ in range(MAX_TOP_UPS):
        have = pool["channel"].value_counts()
        short = max((want[c] - int(have.get(c, 0))) / max(int(have.get(c, 0)), 1) for c in want)
        if short <= 0:
            break
        pool = pd.concat([pool, _draw(synthesizer, int(len(pool) * min(short, 2.0)) + 50)], ignore_index=True)
    taken = pd.concat([pool[pool["channel"] == c].head(int(n)) for c, n in want.items()])
    if len(taken) < rows:  # a channel the model (almost) never draws: the rest as drawn
        taken = pd.concat([taken, pool.drop(index=taken.index).head(rows - len(taken))])
    return taken.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)


def fraud(synthesizer: Any, kind: str, rows: int, rng: np.random.Generator) -> pd.DataFrame:
    """``rows`` behaviour rows of fraud ``kind``, resampled from the table's fraud rows of that kind (all of
    its fraud rows when the table had no kinds; honest model rows when it had no fraud at all)."""
    table = pd.DataFrame(_info(synthesizer).get("fraud_rows") or {})
    if table.empty:
        return honest(synthesizer, rows)
    pool = table[table["fraud_type"] == profile_of(synthesizer).model_kind(kind)]
    pool = pool if len(pool) else table
    picked = pool.iloc[rng.integers(len(pool), size=rows)].reset_index(drop=True)
    return picked.drop(columns="fraud_type").assign(is_new_device=lambda d: d["is_new_device"].astype(bool)
                                                    if "is_new_device" in d else False)


def sample(synthesizer: Any, rows: int, seed: int | None = None) -> pd.DataFrame:
    """``rows`` behaviour rows at the profile's fraud rate and mix, with ``fraud_type`` and ``is_fraud``
    (for quality checks; the stream draws per episode through ``simulate``)."""
    learned = profile_of(synthesizer)
    rng = np.random.default_rng(seed)
    n_fraud = int(rng.binomial(rows, learned.fraud_rate))
    per_kind = rng.multinomial(n_fraud, list(learned.fraud_mix.values()))
    parts = [honest(synthesizer, rows - n_fraud, rng).assign(fraud_type=profiles.HONEST)]
    parts += [fraud(synthesizer, kind, int(n), rng).assign(fraud_type=kind)
              for kind, n in zip(learned.fraud_mix, per_kind, strict=True) if n]
    df = pd.concat(parts, ignore_index=True).sample(frac=1.0, random_state=int(rng.integers(2**31)))
    return df.assign(is_fraud=df["fraud_type"] != profiles.HONEST).reset_index(drop=True)
