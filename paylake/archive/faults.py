"""Fault injection for crash tests: ``PAYLAKE_FAULT_AT=<step>`` makes the archive job fail at that step.

Each fault fires right after the step's effect and before the manifest records it — the worst moment:
``write`` (Parquet in the temporary dir), ``verify`` (verified, JSON manifest in the temporary dir),
``rename`` (published by rename), ``manifest`` (JSON beside the data, MongoDB state not yet advanced),
``delete`` (half of the batch's ids deleted from MongoDB, the rest not). Unset in production.
"""

from __future__ import annotations

import os

FAULT_ENV = "PAYLAKE_FAULT_AT"
STEPS = ("write", "verify", "rename", "manifest", "delete")


class InjectedFault(RuntimeError):
    """Raised on purpose by ``maybe_fail``."""


def maybe_fail(step: str) -> None:
    if os.environ.get(FAULT_ENV, "") == step:
        raise InjectedFault(f"{FAULT_ENV}={step}: injected failure")


def armed(step: str) -> bool:
    return os.environ.get(FAULT_ENV, "") == step
