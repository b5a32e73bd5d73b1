"""Data-quality gate runs: recorded in MongoDB (``names.DQ_RESULTS``, every run queryable) before anything is
published, and mirrored to Redis for the dashboard by ``history.publish``."""

from __future__ import annotations

from datetime import date
from typing import Any

from pymongo.database import Database

from paylake import names
from paylake.clock import now
from paylake.errors import ServiceError
from paylake.marts.gates import CheckResult


class GateFailed(ServiceError):
    """A data-quality gate failed: nothing of the date was published. The message names each failed check,
    its count and a few offending ids."""


def record(db: Database[Any], run_id: str, day: date, results: list[CheckResult]) -> dict[str, Any]:
    doc = {
        "_id": run_id,
        "date": day.isoformat(),
        "finished_at": now(),
        "passed": all(r.passed for r in results),
        "checks": [r.as_dict() for r in results],
    }
    db[names.DQ_RESULTS].insert_one(doc)
    return doc


def failure(day: date, results: list[CheckResult]) -> GateFailed:
    failed = [r.line() for r in results if not r.passed]
    return GateFailed(f"data-quality gates failed for {day.isoformat()}, nothing published:\n  " + "\n  ".join(failed))


def recent(db: Database[Any], limit: int = names.DQ_RECENT_MAX, day: date | None = None) -> list[dict[str, Any]]:
    """The latest gate runs, newest first (of one date when ``day`` is given)."""
    query = {"date": day.isoformat()} if day else {}
    return list(db[names.DQ_RESULTS].find(query).sort("finished_at", -1).limit(limit))
