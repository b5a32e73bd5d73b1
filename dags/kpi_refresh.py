"""
### kpi_refresh — keep the KPI snapshot in Redis seconds fresh

Every 5 minutes one run; its task refreshes in a loop until the next run is due, at least every
`PAYLAKE_KPI_PERIOD_S` (7 s by default), as a client of the long-lived Spark Connect server (no JVM start per refresh).
Each refresh reads only the hot transactions ingested after the KPI watermark (up to now minus the allowed
lateness `PAYLAKE_KPI_LATENESS_S`), flags them with the fraud rules, merges per-minute aggregates into
`kpi_minutes` in MongoDB (idempotently), advances the watermark, and publishes one atomic snapshot to Redis.

* No catch-up and one active run: every refresh catches up on everything not yet counted.
* A refresh failing on a down server is retried at the next tick; the task fails (and Airflow retries it)
  only when the loop's last refresh failed. A crashed refresh is redone with the same range (no double
  counting); with Redis down the next refresh republishes everything.

Schedule, timeout and lock come from `paylake.jobs.KPI_REFRESH`; all logic lives in `paylake.kpi`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from paylake.jobs import KPI_REFRESH


@dag(
    dag_id="kpi_refresh",
    schedule=KPI_REFRESH.every,
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
        "execution_timeout": KPI_REFRESH.timeout,
    },
)
def kpi_refresh() -> None:
    @task
    def refresh(data_interval_end: pendulum.DateTime | None = None) -> str:
        from paylake.kpi.tasks import refresh_task

        return refresh_task(data_interval_end)

    refresh()


kpi_refresh()
