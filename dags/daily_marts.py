"""
### daily_marts — the batch layer: one UTC date's marts over hot ∪ cold, gated before they are published

Each run builds the date of its data interval (`[data_interval_start, data_interval_end)`, one UTC day) from
every transaction of that date, hot (MongoDB) and cold (HDFS) alike, exactly once:
`daily_summary`, `merchant_daily`, `customer_segments` (RFM over `PAYLAKE_MARTS_WINDOW_DAYS` days) and
`hourly_patterns`, as Parquet under `marts/<mart>/date=YYYY-MM-DD/` on the cold store.

* `build`: a Spark Connect client reads the lake, writes the marts to a staging directory and runs the
  data-quality gates (unique ids, not-null keys, referential integrity, ranges, accepted values, row
  counts). A failed gate fails the task with the check, its count and offending ids; nothing is published.
  Every gate run is recorded in MongoDB (`dq_results`) and shown on the dashboard.
* `publish`: the staged marts replace the date's, one rename per mart; a crash is rolled forward by the next
  run. A re-run or a backfill of a date replaces it, never duplicates it.
* Backfill: `airflow backfill create --dag-id daily_marts --from-date … --to-date … --max-active-runs 1` (one
  date at a time: a build holds the job's lock), or by hand `paylake marts build --from … --to …`. Catch-up
  is off so a new deployment does not build every date since `start_date` by itself.

Timeout and lock come from `paylake.jobs.DAILY_MARTS`; all logic lives in `paylake.marts`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from paylake.jobs import DAILY_MARTS


@dag(
    dag_id="daily_marts",
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["paylake", "marts"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": DAILY_MARTS.timeout,
    },
)
def daily_marts() -> None:
    @task
    def build(data_interval_start: pendulum.DateTime | None = None) -> str:
        from paylake.marts.tasks import build_task

        assert data_interval_start is not None  # Airflow passes it to every scheduled or backfilled run
        return build_task(data_interval_start)

    @task
    def publish(staged_run: str, data_interval_start: pendulum.DateTime | None = None) -> str:
        from paylake.marts.tasks import publish_task

        assert data_interval_start is not None
        return publish_task(data_interval_start, staged_run)

    publish(build())  # type: ignore[arg-type]  # Airflow passes build's return value (an XComArg)


daily_marts()
