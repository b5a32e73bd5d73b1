"""The fixed log-scale latency histogram (scheme version 2): mergeable by adding counts, so p95 over any
window of minutes comes from the stored per-minute buckets without keeping every latency.

Buckets: 0 holds latencies below MIN_MS (0.01 ms); b in 1 … LAST - 1 holds
[10^((b-1)/240 - 2), 10^(b/240 - 2)) ms (240 buckets per decade, each 0.96 % wide); LAST holds everything
from MAX_MS (10^6 ms, ~17 min) up. Only non-empty buckets are stored: a minute of the demo stream
(1,200 transactions, latencies of a few hundred ms with a long tail) fills ~215 of them.

A quantile is the nearest-rank value (the ceil(q·n)-th smallest latency), estimated inside the bucket that
holds it by its rank there: the j-th of the bucket's c latencies is put at lower · ratio^((j - 1/2) / c),
evenly spread in log space (a single one sits at the bucket's geometric middle). Estimate and true value
share a bucket, so the relative error is below 10^(1/240) - 1 ≈ 0.96 % for any distribution of latencies
in [MIN_MS, MAX_MS); below that range the estimate is at most MIN_MS, above it MAX_MS. Interpolating by
rank also keeps windows whose p95 fall in one bucket from all showing the same number.

Versions: stored histograms live under the field ``FIELD`` (``hist_v2``). Version 1 (20 buckets per
decade from 1 ms, up to 5.9 % off, field ``hist``) cannot be split into these buckets, so it is never read
nor converted: the old field stays in documents written before the upgrade and p95 leaves their
transactions out. headline.build_snapshot logs a warning naming each window whose p95 covers fewer
transactions than its count (for ``all`` that lasts for good on an upgraded store).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping

VERSION = 2
FIELD = f"hist_v{VERSION}"  # the stored field of minute buckets and the totals document
LEGACY_FIELDS = ("hist",)  # earlier versions' fields: ignored (see the module doc)
PER_DECADE = 240
MIN_EXP = -2  # MIN_MS = 10^MIN_EXP
MAX_EXP = 6  # MAX_MS = 10^MAX_EXP
MIN_MS = 10.0**MIN_EXP
MAX_MS = 10.0**MAX_EXP
OFFSET = 1 - PER_DECADE * MIN_EXP  # bucket of x in range ≈ floor(log10(x) · PER_DECADE) + OFFSET
LAST = PER_DECADE * (MAX_EXP - MIN_EXP) + 1  # overflow bucket index (>= MAX_MS)
RATIO = 10.0 ** (1 / PER_DECADE)  # upper / lower edge of every in-range bucket
MAX_ERROR = RATIO - 1  # bound of a quantile's relative error for latencies in [MIN_MS, MAX_MS)


def lower(bucket: int) -> float:
    """The lower edge of an in-range bucket (1 … LAST) by formula; EDGES holds the ones that decide."""
    return 10.0 ** ((bucket - OFFSET) / PER_DECADE)


# EDGES[b - 1] is the lower edge of bucket b (EDGES[0] = MIN_MS, EDGES[LAST - 1] = MAX_MS): the bucket of x
# is the number of edges <= x. A bucket from log10 alone is not portable: Java's and C's log10 differ in
# the last bit, which put some latencies a hair from an edge into neighbouring buckets in Spark and Python.
EDGES = tuple(lower(b) for b in range(1, LAST + 1))


def bucket_of(latency_ms: float) -> int:
    """The bucket of a latency; transforms.latency_bucket is its Spark twin (same EDGES, same result)."""
    return bisect.bisect_right(EDGES, latency_ms)


def of(latencies: Iterable[float]) -> dict[int, int]:
    """The histogram {bucket: count} of some latencies (only non-empty buckets)."""
    hist: dict[int, int] = {}
    for x in latencies:
        b = bucket_of(x)
        hist[b] = hist.get(b, 0) + 1
    return hist


def nearest_rank(q: float, total: int) -> int:
    """ceil(q · total) clamped to 1 … total, robust to q · total landing a hair above an integer in floats."""
    return min(max(math.ceil(round(q * total, 9)), 1), total)


def estimate(bucket: int, j: int, count: int) -> float:
    """The j-th (1 … count) smallest of ``count`` latencies in ``bucket`` (see the module doc)."""
    if bucket >= LAST:
        return MAX_MS
    position = (j - 0.5) / count
    if bucket <= 0:
        return MIN_MS * position
    low, high = EDGES[bucket - 1], EDGES[bucket]
    return low * (high / low) ** position


def quantile(hist: Mapping[int, int], q: float) -> float:
    """The nearest-rank q-quantile (0 < q <= 1) of a histogram {bucket: count}; 0.0 when it is empty."""
    total = sum(hist.values())
    if total <= 0:
        return 0.0
    rank = nearest_rank(q, total)
    seen = 0
    for bucket in sorted(hist):
        count = hist[bucket]
        if count > 0 and seen + count >= rank:
            return estimate(bucket, rank - seen, count)
        seen += max(count, 0)
    raise AssertionError("unreachable: rank <= total")
