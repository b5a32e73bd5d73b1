"""What the Airflow DAG daily_marts calls: settings read at run time, never at import."""

from __future__ import annotations

import json
from datetime import datetime

from paylake.jobs import DAILY_MARTS
from paylake.jobs.run import run
from paylake.settings import load_settings


def build_task(data_interval_start: datetime) -> str:
    """Build, stage and gate the marts of the run's UTC date (its data interval's start); return the staged
    run id for the publish task. A failed gate fails this task with the checks named; nothing is published."""
    from paylake.marts.results import GateFailed

    try:
        summary = run(DAILY_MARTS, load_settings(), day=data_interval_start.date().isoformat(), publish=False)
    except GateFailed as exc:  # the data will not fix itself within a retry delay: fail without retrying
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from exc
    return str(json.loads(summary)["run_id"])


def publish_task(data_interval_start: datetime, run_id: str) -> str:
    """Publish the staged marts of ``run_id`` (a later build of the same date supersedes it: nothing to do)."""
    from paylake.marts.job import publish_staged

    return publish_staged(load_settings(), data_interval_start.date(), run_id).summary()
