"""Generator test helpers: a stand-in for the CTGAN model, and a simulated stream (pure: no servers)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd

from paylake.generator import dimensions, model, reference
from paylake.generator import profile as profiles
from paylake.generator.simulate import SimOptions, Simulator

START = datetime(2026, 10, 5, tzinfo=UTC).timestamp()


class ReplaySynthesizer:
    """Stands in for the CTGAN model where the model is not what is tested (it has its own test): resamples
    the honest behaviour rows of a reference table, and carries the table's profile and fraud rows as a
    trained model does (no ``ratio_edges``/``log_columns``: ``sampling.decode`` passes its rows through)."""

    def __init__(self, rows: int = 5000, seed: int = 21, columns: tuple[str, ...] | None = None) -> None:
        frame = model.training_frame(reference.simulate(rows, seed=seed))
        if columns is not None:
            frame = frame[list(columns)]
        learned = profiles.learn(frame)
        behaviour = profiles.behaviour(frame, learned, model.reference_spend())
        honest = behaviour["fraud_type"] == profiles.HONEST
        self.rows = behaviour[honest].drop(columns="fraud_type").reset_index(drop=True)
        self.paylake_info = {"profile": learned.as_dict(), "fraud_rows": behaviour[~honest].to_dict("list")}
        self.rng = np.random.default_rng(0)

    def sample(self, rows: int) -> dict[str, pd.DataFrame]:
        picked = self.rng.integers(len(self.rows), size=rows)
        return {model.TABLE: self.rows.iloc[picked].reset_index(drop=True)}


def simulate_stream(synthesizer: object, customers: int, rate: float, hours: float, seed: int = 0,
                    start: float = START, chunk: int = 2000) -> tuple[Simulator, pd.DataFrame]:
    """A simulator over ``customers`` customers and the rows it makes in ``hours`` simulated hours at
    ``rate`` payments per simulated second, with ``event_time`` from the simulated time ``t`` and each row's
    ``fraud_type``."""
    dims = dimensions.build_dimensions(customers=customers)
    sim = Simulator(synthesizer, dims, SimOptions(start=start, rate=rate), np.random.default_rng(seed))
    parts = []
    while sim.t < start + hours * 3600:
        parts.append(sim.chunk(chunk))
    frame = pd.concat(parts, ignore_index=True)
    return sim, frame.assign(event_time=pd.to_datetime(frame["t"], unit="s", utc=True))
