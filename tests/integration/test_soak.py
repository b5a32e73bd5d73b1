"""The soak's short form (bench/soak.py): generator, KPI loop and archive together on a real stack, at a
modest rate for a couple of minutes, sustained and exactly once. Asserts the conditions, not a speed."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_a_short_soak_is_sustained_and_exact(tmp_path: Path) -> None:
    from paylake.data import REFERENCE_CSV
    from paylake.generator import model

    sys.path.insert(0, str(BENCH))
    try:
        import soak
    finally:
        sys.path.remove(str(BENCH))

    frame = model.training_frame(pd.read_csv(REFERENCE_CSV)).sample(3000, random_state=0)
    model.save(model.train(frame, epochs=1, seed=1), tmp_path / "ctgan.pkl")
    # A 1 MB threshold and an archive run every 20 s: the archive moves data several times in 2 minutes.
    opts = soak.Options(rate=100, minutes=2, threshold_mb=1, archive_every=20, max_lag_s=30, sample_s=2,
                        model=tmp_path / "ctgan.pkl", customers=5_000)
    outcome = soak.soak(opts)

    assert outcome.sustained, outcome.line(opts)
    final = outcome.final
    assert final.generated >= 0.98 * 100 * 120
    assert final.cold > 0 and final.hot > 0  # the archive moved data, and the newest stayed hot
    assert final.generated == final.hot + final.cold == final.distinct == final.kpi_count
    assert sum(run.moved for run in outcome.archive_runs) == final.cold
    assert all(run.exit_code == 0 for run in outcome.archive_runs) and len(outcome.archive_runs) >= 3
    assert max(s.hot_mb for s in outcome.samples) <= soak.bound_mb(opts, outcome.doc_bytes)
    lags = [s.lag_s for s in outcome.samples if s.lag_s is not None]
    assert lags and max(lags) < 60
    assert outcome.line(opts).startswith("sustained: ")
