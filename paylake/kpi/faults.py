"""Fault injection for crash tests: ``PAYLAKE_FAULT_AT=<step>`` makes the KPI job fail at that step.

Steps, in run order: ``read`` (after reading, before any write), ``alerts`` (alerts stored, buckets not
merged), ``merge_partial`` (first chunk of buckets merged, the rest not), ``merge`` (all buckets merged,
watermark not advanced), ``publish`` (watermark advanced, Redis not published).
"""

from __future__ import annotations

import os

FAULT_ENV = "PAYLAKE_FAULT_AT"
STEPS = ("read", "alerts", "merge_partial", "merge", "publish")


class InjectedFault(RuntimeError):
    """Raised on purpose by ``maybe_fail``; never in production (the variable is unset)."""


def maybe_fail(step: str) -> None:
    if os.environ.get(FAULT_ENV, "") == step:
        raise InjectedFault(f"{FAULT_ENV}={step}: injected failure")


def active(step: str) -> bool:
    return os.environ.get(FAULT_ENV, "") == step
