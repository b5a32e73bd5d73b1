"""Train, save, load and sample the CTGAN model (SDV 2.0 API) over the behaviour columns of a transaction.

The model learns ``records.MODEL_COLUMNS`` (category, amount, hour, weekday, payment method, channel,
device, new-device flag, distance from home, status, latency, fraud label): the joint behaviour. Ids,
dimension keys and times are attached at generation (``records.build_records``). sdv/torch/pandas are
imported inside the functions so that ``paylake --help`` stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paylake import schema
from paylake.errors import UsageError
from paylake.generator.dimensions import CATEGORY_KEYS
from paylake.generator.records import MODEL_COLUMNS

if TYPE_CHECKING:
    import pandas as pd

TABLE = "transactions"
REQUIRED = ("amount", "is_fraud")
ALLOWED: dict[str, tuple[str, ...]] = {
    "category": CATEGORY_KEYS, "payment_method": schema.PAYMENT_METHODS, "channel": schema.CHANNELS,
    "device_type": schema.DEVICE_TYPES, "status": schema.STATUSES,
}
# Heavy-tailed columns are modelled in log space (log1p): CTGAN's mode-specific normalisation fits log-normal
# shapes far better than raw values spanning four orders of magnitude.
LOG_COLUMNS = ("amount", "distance_km", "latency_ms")
# The amount, the figure every KPI sums, is modelled as a categorical quantile bin of log(amount) (20 equally
# populated bins) plus the position inside the bin. CTGAN trains its conditional generator over categorical
# values explicitly (training-by-sampling), so bin frequencies, and their dependence on category and fraud,
# come out right even for a quick model. Measured amount KS vs the reference, quick model (10 epochs):
# raw amount 0.21-0.25, log1p(amount) 0.05-0.21 depending on the seed, log(amount/category median)
# 0.19-0.30, quantile bins: see tests/integration/test_generator_model.py.
AMOUNT_BINS = 20
CATEGORICAL = ("category", "hour", "day_of_week", "payment_method", "channel", "device_type",
               "is_new_device", "status", "is_fraud")


class TrainingDataError(UsageError, ValueError):
    """The training table cannot be used (missing or unmapped column, values outside the schema)."""


@dataclass(frozen=True)
class Preset:
    epochs: int
    rows: int


DEFAULT = Preset(epochs=100, rows=20_000)
QUICK = Preset(epochs=10, rows=8_000)


def quiet_libraries() -> None:
    """SDV, RDT and friends log every step at INFO and warn about metadata files we do not use."""
    import logging
    import warnings

    for name in ("sdv", "rdt", "copulas", "sdmetrics", "ctgan", "SingleTableSynthesizer", "MultiTableSynthesizer"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*save_to_json.*")
    warnings.filterwarnings("ignore", category=FutureWarning, module="sdv|rdt|sdmetrics")


def _as_bool(series: pd.Series, column: str) -> pd.Series:
    if series.dtype == bool:
        return series
    text = series.astype(str).str.strip().str.lower()
    mapping = {"true": True, "1": True, "yes": True, "1.0": True, "false": False, "0": False, "no": False, "0.0": False}
    bad = sorted(set(text) - set(mapping))
    if bad:
        raise TrainingDataError(f"column {column!r} must be true/false or 1/0, found {bad[:5]}")
    return text.map(mapping).astype(bool)


def training_frame(table: pd.DataFrame, mapping: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The model columns of ``table`` (a reference table, or a user's table with ``mapping`` their→ours)."""
    import pandas as pd

    mapping = dict(mapping or {})
    missing_src = [src for src in mapping if src not in table.columns]
    if missing_src:
        raise TrainingDataError(f"--map names columns that are not in the CSV: {missing_src}; "
                                f"its columns are {list(table.columns)}")
    unknown = [dst for dst in mapping.values() if dst not in (*MODEL_COLUMNS, "event_time")]
    if unknown:
        raise TrainingDataError(f"--map targets {unknown} are not paylake columns; "
                                f"use one of {[*MODEL_COLUMNS, 'event_time']}")
    df = table.rename(columns=mapping)
    absent = [c for c in REQUIRED if c not in df.columns]
    if absent:
        raise TrainingDataError(f"the training table has no {absent} column(s): map yours with --map THEIRS=OURS "
                                f"(columns found: {list(table.columns)})")
    if "event_time" in df.columns:
        times = pd.to_datetime(df["event_time"], utc=True, errors="coerce")
        if times.isna().any():
            raise TrainingDataError(f"column 'event_time' has {int(times.isna().sum())} unparseable timestamps")
        df["hour"], df["day_of_week"] = times.dt.hour, times.dt.dayofweek
    out = df[[c for c in MODEL_COLUMNS if c in df.columns]].copy()
    out["amount"] = pd.to_numeric(out["amount"], errors="coerce")
    if out["amount"].isna().any() or (out["amount"] <= 0).any():
        raise TrainingDataError("column 'amount' must hold positive numbers only")
    for column in ("is_fraud", "is_new_device"):
        if column in out.columns:
            out[column] = _as_bool(out[column], column)
    for column, allowed in ALLOWED.items():
        if column in out.columns:
            bad = sorted(set(out[column].astype(str)) - set(allowed))
            if bad:
                raise TrainingDataError(f"column {column!r} has values outside the schema {bad[:5]}; "
                                        f"allowed: {list(allowed)} (recode them or leave the column unmapped)")
    return out.reset_index(drop=True)


def train(frame: pd.DataFrame, epochs: int, verbose: bool = False, seed: int | None = None) -> Any:
    """Fit SDV's CTGANSynthesizer on ``frame`` (SDV 2.0: a dict with one table), remembering the fraud rate."""
    import numpy as np
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer

    quiet_libraries()
    if seed is not None:
        import torch

        np.random.seed(seed)
        torch.manual_seed(seed)
    data = frame.copy()
    logged = [c for c in LOG_COLUMNS if c in data.columns and c != "amount"]
    for column in logged:
        data[column] = np.log1p(data[column].astype(float))
    edges = amount_edges(data["amount"])
    data["amount_bin"], data["amount_frac"] = encode_amount(data.pop("amount"), edges)
    metadata = Metadata.detect_from_dataframes({TABLE: data})
    for column in (*CATEGORICAL, "amount_bin"):
        if column in data.columns:
            metadata.update_column(column_name=column, sdtype="categorical", table_name=TABLE)
    # Small batches: more generator steps per epoch, which matters for the quick (10 epoch) setting.
    synthesizer = CTGANSynthesizer(metadata, epochs=epochs, batch_size=100, verbose=verbose, enable_gpu=False)
    synthesizer.fit({TABLE: data})
    synthesizer.paylake_info = {"fraud_rate": float(frame["is_fraud"].mean()), "log_columns": logged,
                                "amount_edges": edges.tolist(),
                                "columns": list(frame.columns), "rows": len(frame), "epochs": epochs}
    return synthesizer


def amount_edges(amount: pd.Series, bins: int = AMOUNT_BINS) -> Any:
    """Quantile edges of log(amount): equally populated bins in the training table."""
    import numpy as np

    return np.unique(np.quantile(np.log(amount.astype(float)), np.linspace(0, 1, bins + 1)))


def encode_amount(amount: pd.Series, edges: Any) -> tuple[pd.Series, pd.Series]:
    """amount → (bin label, position inside the bin in [0, 1]) on the log scale. Pure."""
    import numpy as np
    import pandas as pd

    logs = np.log(amount.astype(float).to_numpy())
    index = np.clip(np.searchsorted(edges, logs, side="right") - 1, 0, len(edges) - 2)
    frac = (logs - edges[index]) / (edges[index + 1] - edges[index])
    return (pd.Series([f"b{i:02d}" for i in index], index=amount.index),
            pd.Series(np.clip(frac, 0.0, 1.0), index=amount.index))


def decode_amount(bin_label: pd.Series, frac: pd.Series, edges: Any) -> Any:
    """The inverse of ``encode_amount``."""
    import numpy as np

    edges = np.asarray(edges)
    index = np.clip(bin_label.astype(str).str[1:].astype(int).to_numpy(), 0, len(edges) - 2)
    position = np.clip(frac.astype(float).to_numpy(), 0.0, 1.0)
    return np.exp(edges[index] + position * (edges[index + 1] - edges[index]))


def save(synthesizer: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    synthesizer.save(str(tmp))
    tmp.replace(path)  # atomic: a reader never sees half a model


def load(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"no trained model at {path}: run `paylake train` (or `paylake train --quick`)")
    import warnings

    from sdv.utils import load_synthesizer

    quiet_libraries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_synthesizer(str(path))


def _flags(series: pd.Series) -> pd.Series:
    return series.astype(str).str.lower().isin(("true", "1", "1.0"))


def _table(out: Any) -> pd.DataFrame:
    return out[TABLE] if isinstance(out, dict) else out


def _stratified(synthesizer: Any, rows: int, rate: float, rng: Any) -> pd.DataFrame:
    """Model rows with Binomial(rows, rate) fraud: unconditional draws split by label (fast), the short
    stratum topped up with CTGAN's conditional vector (SDV's sample_from_conditions, slower)."""
    import contextlib
    import io

    import pandas as pd
    from sdv.sampling import Condition

    fraud = int(rng.binomial(rows, rate))
    want = {True: fraud, False: rows - fraud}
    drawn = _table(synthesizer.sample(int(rows * 1.1) + 50))
    label = _flags(drawn["is_fraud"])
    parts = [drawn[label == flag].head(k) for flag, k in want.items()]
    short = [Condition(num_rows=k - len(part), column_values={"is_fraud": flag})
             for part, (flag, k) in zip(parts, want.items(), strict=True) if len(part) < k]
    if short:
        with contextlib.redirect_stderr(io.StringIO()):  # SDV draws a progress bar per call
            parts.append(_table(synthesizer.sample_from_conditions(short)))
    return pd.concat(parts, ignore_index=True)


def sample(synthesizer: Any, rows: int, seed: int | None = None) -> pd.DataFrame:
    """``rows`` behaviour rows, stratified on the fraud label at the training table's fraud rate.

    A GAN trained for a few epochs drifts on a 1.5% class (measured: 6.7% unconditioned), so the label count
    is drawn as Binomial(rows, fraud_rate) and each stratum is filled with the model's own rows of that label;
    every other column, the amount included, still comes from the model.
    """
    import numpy as np
    import pandas as pd

    info = getattr(synthesizer, "paylake_info", {"fraud_rate": None, "log_columns": []})
    rng = np.random.default_rng(seed)
    rate = info.get("fraud_rate")
    df = _stratified(synthesizer, rows, rate, rng) if rate else _table(synthesizer.sample(rows))
    df = df.sample(frac=1.0, random_state=int(rng.integers(2**31))).reset_index(drop=True)
    for column in info.get("log_columns", []):
        df[column] = np.expm1(df[column].astype(float))
    if "amount_edges" in info:
        df["amount"] = decode_amount(df.pop("amount_bin"), df.pop("amount_frac"), info["amount_edges"])
    for column in ("is_fraud", "is_new_device"):
        if column in df.columns:
            df[column] = _flags(df[column])
    if "amount" in df.columns:
        df["amount"] = df["amount"].clip(lower=0.01)
    return pd.DataFrame(df)


def speed_up_sampling(synthesizer: Any, batch: int = 5000) -> None:
    """Generate in large batches (training used small ones); sampling goes several times faster."""
    model = getattr(synthesizer, "_model", None)
    if model is not None and hasattr(model, "_batch_size"):
        model._batch_size = batch


def one_sampling_thread() -> None:
    """Sample on one core: torch's default (all cores) steals the database server's core and slows inserts
    more than it speeds sampling."""
    import torch

    torch.set_num_threads(1)


def quality_score(real: pd.DataFrame, synthetic: pd.DataFrame) -> float:
    """SDV's overall quality score (column shapes and pair trends), 0..1, on the user-facing columns."""
    from sdv.evaluation import evaluate_quality
    from sdv.metadata import Metadata

    metadata = Metadata.detect_from_dataframes({TABLE: real})
    report = evaluate_quality({TABLE: real}, {TABLE: synthetic[list(real.columns)]}, metadata, verbose=False)
    return float(report.get_score())
