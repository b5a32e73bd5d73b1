"""Fault injection for crash tests: ``PAYLAKE_FAULT_AT=<step>`` makes a job fail at that step.

Unset in production. Each step fires right after that step's effect, before the job records it: the
worst moment to die.
- KPI job (paylake.kpi.job): ``read`` (read, nothing written), ``alerts`` (alerts stored, buckets not
  merged), ``merge_partial`` (first chunk of buckets merged), ``merge`` (all merged, watermark not
  advanced), ``publish`` (watermark advanced, Redis not published).
- Archive job (paylake.archive.job): ``write`` (Parquet in the temporary dir), ``verify`` (verified, JSON
  manifest in the temporary dir), ``rename`` (published), ``manifest`` (JSON beside the data, MongoDB state
  not advanced), ``delete`` (half of the batch deleted from MongoDB).
- Marts job (paylake.marts.job): ``stage`` (marts written to staging, not gated), ``gates`` (gates passed
  and recorded, nothing published), ``publish_partial`` (the first mart of the date replaced, the others not).
- Alert delivery (paylake.webhook.deliver): ``posted`` (a batch POSTed and acknowledged with a 2xx, its
  alerts not marked delivered: they are sent again, with the same idempotency keys).
"""

from __future__ import annotations

import os

FAULT_ENV = "PAYLAKE_FAULT_AT"
KPI_STEPS = ("read", "alerts", "merge_partial", "merge", "publish")
ARCHIVE_STEPS = ("write", "verify", "rename", "manifest", "delete")
MARTS_STEPS = ("stage", "gates", "publish_partial")
WEBHOOK_STEPS = ("posted",)


class InjectedFault(RuntimeError):
    """Raised on purpose by ``maybe_fail``; never in production (the variable is unset)."""


def armed(step: str) -> bool:
    return os.environ.get(FAULT_ENV, "") == step


def maybe_fail(step: str) -> None:
    if armed(step):
        raise InjectedFault(f"{FAULT_ENV}={step}: injected failure")
