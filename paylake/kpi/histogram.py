"""The fixed log-scale latency histogram: mergeable by adding counts, so p95 over any window of minutes
comes from the stored per-minute buckets without keeping every latency.

Bucket 0 holds latencies below 1 ms; bucket b >= 1 holds [10^((b-1)/20), 10^(b/20)) ms (20 buckets per
decade, each ~12 % wide); the last bucket holds everything from 10^6 ms (~17 min) up. A quantile is
reported as the geometric middle of its bucket, so its relative error is at most 10^(1/40) - 1 ≈ 5.9 %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

PER_DECADE = 20
DECADES = 6
LAST = PER_DECADE * DECADES + 1  # overflow bucket index (>= 10^6 ms)


def bucket_of(latency_ms: float) -> int:
    """Python twin of the Spark expression in transforms.latency_bucket (used by tests and ground truth)."""
    if latency_ms < 1.0:
        return 0
    return min(1 + math.floor(PER_DECADE * math.log10(latency_ms)), LAST)


def representative(bucket: int) -> float:
    if bucket <= 0:
        return 0.5
    if bucket >= LAST:
        return 10.0**DECADES
    return 10.0 ** ((bucket - 0.5) / PER_DECADE)


def quantile(hist: Mapping[int, int], q: float) -> float:
    """The q-quantile (0 < q <= 1) of a histogram {bucket: count}; 0.0 when it is empty."""
    total = sum(hist.values())
    if total <= 0:
        return 0.0
    rank = q * total
    seen = 0
    for bucket in sorted(hist):
        seen += hist[bucket]
        if seen >= rank:
            return representative(bucket)
    return representative(max(hist))
