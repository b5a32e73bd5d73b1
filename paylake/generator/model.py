"""Train, save, load and sample the CTGAN model (SDV 2.0 API) over a transaction's behaviour.

The model learns ``profile.BEHAVIOUR``: the amount as a ratio to what this customer pays in this category,
the distance from where the customer is, channel, payment method, device, new-device flag, status, latency
and the fraud type, jointly. Who pays, when and where comes from the simulation (``simulate``), which also
needs the table's ``StreamProfile`` (fraud rate and mix, local-hour profile, category medians): it is
learned at training and saved with the model. sdv/torch are imported inside the functions so that
``paylake --help`` stays fast.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paylake import schema
from paylake.errors import UsageError
from paylake.generator import profile as profiles
from paylake.generator.dimensions import CATEGORY_KEYS, build_dimensions

if TYPE_CHECKING:
    import pandas as pd

TABLE = "transactions"
FORMAT = 2  # 2: honest behaviour relative to customer and category, a StreamProfile, the table's fraud rows
REQUIRED = ("amount", "is_fraud")
# What a training table may hold: the behaviour's inputs, and the context the profile is learned from.
TRAINING_COLUMNS = ("category", "amount", "payment_method", "channel", "device_type", "is_new_device",
                    "distance_km", "status", "latency_ms", "is_fraud", "fraud_type", "customer_id",
                    "event_time", "longitude")
ALLOWED: dict[str, tuple[str, ...]] = {
    "category": CATEGORY_KEYS, "payment_method": schema.PAYMENT_METHODS, "channel": schema.CHANNELS,
    "device_type": schema.DEVICE_TYPES, "status": schema.STATUSES,
}
# Heavy-tailed columns are modelled in log space (log1p): CTGAN's mode-specific normalisation fits log-normal
# shapes far better than raw values spanning four orders of magnitude.
LOG_COLUMNS = ("distance_km", "latency_ms")
# The amount ratio is modelled as a categorical quantile bin of its log (20 equally populated bins) plus the
# position inside the bin. CTGAN trains its conditional generator over categorical values explicitly
# (training-by-sampling), so bin frequencies, and their dependence on category and fraud type, come out
# right even for a quick model (raw amounts measured KS 0.21-0.25 against the table, log bins 0.05-0.12).
AMOUNT_BINS = 20
# The amount's marginal is calibrated to the table's: each sampled batch keeps the model's *ranking* of its
# rows (which payments are large, jointly with channel, category, status …) but takes the table's quantiles
# of the score at those ranks. A quick GAN's marginal is too flat: measured 3.1 % of honest rows above
# 4× the expected amount against 2.0 % in the table, which made the amount rule's precision 13 % vs 21 %.
QUANTILES = 1001
CATEGORICAL = ("category", "payment_method", "channel", "device_type", "is_new_device", "status")
# Fraud rows. The model is trained on honest rows only, and fraud rows are resampled from the table's own fraud rows of
# the episode's kind (their relative columns: amount ratio, distance, channel, device, status, latency).
# Fraud is 1.5 % of the reference: measured on the quick model (10 epochs, 8,000 rows), CTGAN rows drawn
# with SDV's conditional sampling on fraud_type did not carry the kinds' signatures (amount ratio median
# 1.05 for odd_hours_large vs 8.71 in the table, 1.05 vs 0.03 for card_testing; in-store share 24 % vs
# 0 % for card_testing), nor did 40 epochs, nor a CTGAN fitted on the 750 fraud rows alone (60 epochs).


class ModelFormatError(UsageError):
    """The saved model predates the behaviour model (format 2): it must be retrained."""


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
    unknown = [dst for dst in mapping.values() if dst not in TRAINING_COLUMNS]
    if unknown:
        raise TrainingDataError(f"--map targets {unknown} are not paylake columns; use one of {list(TRAINING_COLUMNS)}")
    df = table.rename(columns=mapping)
    absent = [c for c in REQUIRED if c not in df.columns]
    if absent:
        raise TrainingDataError(f"the training table has no {absent} column(s): map yours with --map THEIRS=OURS "
                                f"(columns found: {list(table.columns)})")
    if "event_time" in df.columns:
        df["event_time"] = pd.to_datetime(df["event_time"], utc=True, errors="coerce")
        if df["event_time"].isna().any():
            raise TrainingDataError(f"column 'event_time' has {int(df['event_time'].isna().sum())} unparseable "
                                    "timestamps")
    for column in ("longitude", "distance_km", "latency_ms"):
        if column in df.columns and pd.to_numeric(df[column], errors="coerce").isna().any():
            raise TrainingDataError(f"column {column!r} must hold numbers only")
    out = df[[c for c in TRAINING_COLUMNS if c in df.columns]].copy()
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
    """Fit SDV's CTGANSynthesizer (SDV 2.0: a dict with one table) on the honest behaviour of ``frame`` (a
    ``training_frame``). Saved with it as ``paylake_info``: the learned ``StreamProfile`` and the table's
    fraud rows (see the note on fraud rows above)."""
    import numpy as np
    import pandas as pd
    from sdv.metadata import Metadata
    from sdv.single_table import CTGANSynthesizer

    quiet_libraries()
    if seed is not None:
        import torch

        np.random.seed(seed)
        torch.manual_seed(seed)
    learned = profiles.learn(frame)
    rows = profiles.behaviour(frame, learned, reference_spend())
    honest = rows[rows["fraud_type"] == profiles.HONEST].drop(columns="fraud_type").reset_index(drop=True)
    data = encode(honest)
    # The amount as standard scores of log(ratio) within its category: a quick model that ignores the
    # category (measured: every category got the same spread, 6.6 % of honest rows above 4× the expected
    # amount against 2.0 % in the table) still gives each category its own spread.
    z = np.log(data.pop("amount_ratio").to_numpy(dtype=float)) / learned.spread(categories(data))
    edges = amount_edges(pd.Series(np.exp(z)))
    data["amount_bin"], data["amount_frac"] = encode_amount(pd.Series(np.exp(z)), edges)
    metadata = Metadata.detect_from_dataframes({TABLE: data})
    for column in (*CATEGORICAL, "amount_bin"):
        if column in data.columns:
            metadata.update_column(column_name=column, sdtype="categorical", table_name=TABLE)
    # Small batches: more generator steps per epoch, which matters for the quick (10 epoch) setting.
    synthesizer = CTGANSynthesizer(metadata, epochs=epochs, batch_size=100, verbose=verbose, enable_gpu=False)
    synthesizer.fit({TABLE: data})
    fraud = rows[rows["fraud_type"] != profiles.HONEST]
    synthesizer.paylake_info = {"profile": learned.as_dict(), "ratio_edges": edges.tolist(),
                                "z_quantiles": np.quantile(z, np.linspace(0, 1, QUANTILES)).tolist(),
                                "log_columns": [c for c in LOG_COLUMNS if c in data.columns],
                                "fraud_rows": fraud.to_dict("list"),
                                "columns": list(frame.columns), "rows": len(frame), "epochs": epochs}
    return synthesizer


def categories(rows: pd.DataFrame) -> Any:
    """Each row's category ("*" for all when the table had none)."""
    import numpy as np

    return rows["category"].to_numpy(dtype=object) if "category" in rows.columns else np.full(len(rows), "*")


def reference_spend() -> dict[str, float]:
    """Spend index of the reference table's customers (a user's table: unknown ids count as 1.0)."""
    return {c["_id"]: float(c["spend_index"]) for c in build_dimensions().customers}


def encode(behaviour: pd.DataFrame) -> pd.DataFrame:
    """Behaviour rows in the model's space: heavy-tailed columns as log1p (the amount ratio is binned later)."""
    import numpy as np

    data = behaviour.copy()
    for column in LOG_COLUMNS:
        if column in data.columns:
            data[column] = np.log1p(data[column].astype(float))
    return data


def amount_edges(amount: pd.Series, bins: int = AMOUNT_BINS) -> Any:
    """Quantile edges of log(amount): ``bins`` equally populated bins, the outer ones split at the 0.1, 0.5,
    1, 2.5 % quantiles (and their mirrors). A value is drawn uniformly (in log) inside its bin, so one wide
    outer bin spanning up to the maximum put most of its mass far out in the tail."""
    import numpy as np

    tails = [0.001, 0.005, 0.01, 0.025]
    quantiles = np.unique(np.r_[np.linspace(0, 1, bins + 1), tails, [1 - q for q in tails]])
    return np.unique(np.quantile(np.log(amount.astype(float)), quantiles))


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
    info = {k: v for k, v in synthesizer.paylake_info.items() if k in ("columns", "rows", "epochs")}
    _format_file(path).write_text(json.dumps({"format": FORMAT, **info}))


def _format_file(path: Path) -> Path:
    return path.with_suffix(".json")


def is_current(path: Path) -> bool:
    """A model exists at ``path`` and was trained by this version's format (cheap: no sdv import)."""
    try:
        return bool(path.exists() and json.loads(_format_file(path).read_text()).get("format") == FORMAT)
    except (OSError, ValueError):
        return False


def load(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(f"no trained model at {path}: run `paylake train` (or `paylake train --quick`)")
    if not is_current(path):
        raise ModelFormatError(f"the model at {path} was trained by an older paylake (it learns absolute amounts "
                               "and UTC hours): retrain it with `paylake train` (or `paylake train --quick`)")
    import warnings

    from sdv.utils import load_synthesizer

    quiet_libraries()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return load_synthesizer(str(path))


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
