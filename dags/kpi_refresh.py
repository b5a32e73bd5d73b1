"""
### kpi_refresh — fold new transactions into the KPI buckets and publish the Redis snapshot

Every minute, one task spark-submits `scripts/kpi_job.py --until <data interval end>`. The job reads only
the hot transactions ingested after the KPI watermark (and up to the interval end minus the allowed
lateness `PAYLAKE_KPI_LATENESS_S`), flags them with the fraud rules, merges per-minute aggregates into
`kpi_minutes` in MongoDB (idempotently), advances the watermark, and publishes one atomic snapshot to Redis.

* No catch-up and one active run: every run catches up on everything not yet counted, so skipped
  intervals lose nothing.
* Retries with exponential backoff: a crashed run is redone with the same range (no double counting);
  with Redis down the task fails with a message naming Redis, and the next run republishes everything.

All logic lives in `paylake.kpi`; this file only schedules it.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task


@dag(
    dag_id="kpi_refresh",
    schedule="* * * * *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["paylake", "kpi"],
    default_args={
        "retries": 3,
        "retry_delay": timedelta(seconds=10),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=2),
        "execution_timeout": timedelta(minutes=10),
    },
)
def kpi_refresh() -> None:
    @task
    def refresh(data_interval_end: pendulum.DateTime | None = None) -> str:
        from paylake.kpi.tasks import refresh_task

        return refresh_task(data_interval_end)

    refresh()


kpi_refresh()
