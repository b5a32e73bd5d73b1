"""The latency histogram: quantiles within 1 % of exact for any distribution, merging, bucket edges, versions.

"Exact" is the nearest-rank quantile: the ceil(q·n)-th smallest sample, numpy's ``method="inverted_cdf"``.
Only ``bucket_of`` and ``quantile`` are used for the accuracy tests, so they run against any scheme.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from paylake.kpi import buckets, histogram
from paylake.kpi.headline import Bucket, build_snapshot

N = 12_000
QUANTILES = (0.5, 0.9, 0.95, 0.99)
AS_OF = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _generator_like(rng: np.random.Generator, n: int) -> np.ndarray:
    """The demo stream's shape (generator/reference.py): log-normal around 220 ms, a 4 % Pareto tail, 0.1 ms."""
    latency = rng.lognormal(np.log(220), 0.35, n)
    tail = rng.random(n) < 0.04
    latency[tail] *= 1 + rng.pareto(1.5, int(tail.sum())) * 3
    return np.round(np.minimum(latency, 30000.0), 1)


DISTRIBUTIONS: dict[str, Callable[[np.random.Generator, int], np.ndarray]] = {
    "log-normal": lambda rng, n: rng.lognormal(np.log(220), 0.35, n),
    "uniform": lambda rng, n: rng.uniform(20, 3000, n),
    "bimodal": lambda rng, n: np.where(rng.random(n) < 0.7, rng.lognormal(np.log(120), 0.2, n),
                                       rng.lognormal(np.log(1500), 0.3, n)),
    "heavy tail (Pareto 1.1)": lambda rng, n: 50 * (1 + rng.pareto(1.1, n)),
    "generator-like": _generator_like,
    "one value repeated": lambda rng, n: np.full(n, 530.9),
    # The worst case for placing values inside a bucket: all of them on a bucket's lower edge.
    "one value on a bucket edge": lambda rng, n: np.full(n, 10 ** (math.floor(math.log10(530.9) * 240) / 240)),
    "log-uniform 1 ms - 100 s": lambda rng, n: 10 ** rng.uniform(0, 5, n),
}


def _hist(samples: np.ndarray) -> dict[int, int]:
    hist: dict[int, int] = {}
    for x in samples.tolist():
        b = histogram.bucket_of(x)
        hist[b] = hist.get(b, 0) + 1
    return hist


@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
@pytest.mark.parametrize("seed", [1, 2])
def test_quantiles_are_within_one_percent_of_the_exact_nearest_rank(name: str, seed: int) -> None:
    samples = DISTRIBUTIONS[name](np.random.default_rng(seed), N)
    hist = _hist(samples)
    for q in QUANTILES:
        exact = float(np.quantile(samples, q, method="inverted_cdf"))
        assert histogram.quantile(hist, q) == pytest.approx(exact, rel=0.01), (name, q)


def test_a_single_latency_anywhere_in_range_is_reported_within_the_bound() -> None:
    for x in np.geomspace(histogram.MIN_MS, histogram.MAX_MS, 50_001)[:-1].tolist():
        assert abs(histogram.quantile({histogram.bucket_of(x): 1}, 0.95) / x - 1) < histogram.MAX_ERROR
    assert histogram.MAX_ERROR < 0.01


def test_merged_halves_give_the_histogram_and_quantiles_of_the_whole() -> None:
    samples = _generator_like(np.random.default_rng(3), N)
    whole = _hist(samples)
    for cut in ([N // 2], [7, 1000, 1001, 9000]):  # two halves; five uneven parts
        merged = Bucket(minute=AS_OF)  # merged the way minutes and windows are: Bucket.add
        for part in np.split(samples, cut):
            merged.add(Bucket(minute=AS_OF, hist=_hist(part)))
        assert merged.hist == whole
        assert [histogram.quantile(merged.hist, q) for q in QUANTILES] == [histogram.quantile(whole, q)
                                                                            for q in QUANTILES]


def test_windows_of_one_stream_do_not_all_show_one_value() -> None:
    """The demo showed 530.9 ms (a bucket's middle) in every window; interpolation by rank tells them apart."""
    stream = _generator_like(np.random.default_rng(4), 60 * 1200)  # an hour of the demo, 1,200 a minute
    windows = [stream[-minutes * 1200:] for minutes in (1, 15, 30, 60)]
    estimates = [histogram.quantile(_hist(w), 0.95) for w in windows]
    assert len(set(estimates)) == len(estimates)
    for w, got in zip(windows, estimates, strict=True):
        assert got == pytest.approx(float(np.quantile(w, 0.95, method="inverted_cdf")), rel=0.01)


def test_a_minute_stores_only_its_non_empty_buckets() -> None:
    """~215 buckets for a demo minute (1,200 latencies): about 2 KB of BSON."""
    sizes = [len(_hist(_generator_like(np.random.default_rng(seed), 1200))) for seed in range(20)]
    assert 150 < float(np.median(sizes)) < 260 and max(sizes) < 300


def test_bucket_edges() -> None:
    edges = histogram.EDGES
    assert len(edges) == histogram.LAST and edges[0] == histogram.MIN_MS and edges[-1] == histogram.MAX_MS
    assert all(a < b for a, b in zip(edges, edges[1:], strict=False))
    assert all(b / a == pytest.approx(histogram.RATIO, rel=1e-12) for a, b in zip(edges, edges[1:], strict=False))
    for b, edge in enumerate(edges, start=1):  # a bucket starts at its edge, the one before ends just below
        assert histogram.bucket_of(edge) == b and histogram.bucket_of(math.nextafter(edge, 0)) == b - 1
    assert histogram.bucket_of(0.0) == 0 and histogram.bucket_of(1e9) == histogram.LAST
    assert histogram.of([1.0, 1.0, 10.0]) == {histogram.bucket_of(1.0): 2, histogram.bucket_of(10.0): 1}


def test_quantile_edge_cases() -> None:
    assert histogram.quantile({}, 0.95) == 0.0
    assert histogram.quantile({histogram.LAST: 3}, 0.95) == histogram.MAX_MS
    assert 0 < histogram.quantile({0: 2}, 0.95) < histogram.MIN_MS
    hist = histogram.of([100.0] * 19 + [200.0])
    assert histogram.quantile(hist, 0.95) == pytest.approx(100.0, rel=0.01)  # the 19th of 20
    assert histogram.quantile(hist, 1.0) == pytest.approx(200.0, rel=0.01)
    assert histogram.nearest_rank(0.95, 100) == 95 and histogram.nearest_rank(0.95, 1) == 1
    assert histogram.nearest_rank(0.95, 101) == 96 and histogram.nearest_rank(0.07, 100) == 7  # 7.000000000000001


def test_stored_buckets_read_only_the_current_histogram_field() -> None:
    minute = AS_OF - timedelta(minutes=1)
    old = {"minute": minute, "count": 5, "hist": {"47": 5}}
    both = {"minute": minute, "count": 7, "hist": {"47": 5}, histogram.FIELD: {"1100": 2}}
    assert buckets.to_bucket(old).hist == {} and buckets.to_bucket(both).hist == {1100: 2}
    assert buckets.increments(Bucket(minute=minute, hist={1100: 2})) == {
        **dict.fromkeys(buckets.SUMS, 0), f"{histogram.FIELD}.1100": 2}


def test_p95_leaves_out_old_scheme_transactions_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    new = Bucket(minute=AS_OF - timedelta(minutes=1), count=20, hist=histogram.of([100.0] * 19 + [200.0]))
    old = Bucket(minute=AS_OF - timedelta(minutes=30), count=50)  # counted before v2: no histogram entries
    with caplog.at_level(logging.WARNING, logger="paylake.kpi.headline"):
        snap = build_snapshot([old, new], AS_OF, AS_OF)
    assert snap.headlines["1h"].count == 70
    assert snap.headlines["1h"].latency_p95_ms == pytest.approx(100.0, rel=0.01)  # from the 20 new ones only
    assert snap.series.values["latency_p95_ms"][-30] == 0.0
    (record,) = [r for r in caplog.records if "histogram v2" in r.message]
    assert "15m" not in record.message and "1h 50 of 70" in record.message and "all 50 of 70" in record.message
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="paylake.kpi.headline"):
        build_snapshot([new], AS_OF, AS_OF)
    assert not caplog.records
