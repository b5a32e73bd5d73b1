"""
### mongo_to_hdfs_archiving — keep the hot store under its size threshold, losing nothing

Every 5 minutes `check_size` reads the hot fact collection's size from MongoDB's own statistics
(collStats) and records it in Redis. Under `PAYLAKE_HOT_MAX_MB` (default 300) the run stops there
(short-circuit: the archive task is skipped and the log says why). Over it, `archive` runs the archive job
(in the task's process: MongoDB → Arrow → Parquet, no Spark), which moves the oldest whole event-time
slices (an hour by default, `PAYLAKE_ARCHIVE_SLICE_MIN`) that the KPI job has already counted to HDFS Parquet
(`date=YYYY-MM-DD/batch=<id>/`) until the size is under the low-water mark (`PAYLAKE_HOT_LOW_WATER` x
threshold): write to a temporary dir → verify count and ids → publish by rename → manifest → delete
exactly those ids from MongoDB → complete.

* One active run, plus a lock in MongoDB, so two archive runs never overlap (also against the CLI).
* Retries: a crashed run is finished or rolled back by the next attempt from the manifest.
* No catch-up: each run looks at the current size; skipped intervals lose nothing.

Schedule, timeout and lock come from `paylake.jobs.ARCHIVE`; all logic lives in `paylake.archive`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import dag, task

from paylake.jobs import ARCHIVE


@dag(
    dag_id="mongo_to_hdfs_archiving",
    schedule=ARCHIVE.every,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["paylake", "archive"],
    default_args={
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=5),
        "execution_timeout": ARCHIVE.timeout,
    },
)
def mongo_to_hdfs_archiving() -> None:
    @task.short_circuit
    def check_size() -> bool:
        from paylake.archive.tasks import over_threshold

        return over_threshold()

    @task
    def archive() -> str:
        from paylake.archive.tasks import archive_task

        return archive_task()

    check_size() >> archive()


mongo_to_hdfs_archiving()
