"""What the Airflow DAG mongo_to_hdfs_archiving calls: settings are read at run time, never at import."""

from __future__ import annotations

import logging

from paylake.archive import size
from paylake.jobs import run_spark_script, summary_line
from paylake.settings import load_settings

log = logging.getLogger(__name__)
SCRIPT = "archive_job.py"
# Under the DAG's 60-minute execution timeout, so a stuck job ends with its own output in the error.
JOB_TIMEOUT_S = 55 * 60


def over_threshold() -> bool:
    """One size check (collStats runs ANALYZE on FerretDB: once per DAG run, never in a loop), recorded in
    Redis for the dashboard. False makes the DAG skip the archive task, with the reason in the log."""
    report = size.check(load_settings())
    if not report.over:
        log.info("skipping the archive run: %s", report.line())
    return report.over


def archive_task() -> str:
    """spark-submit scripts/archive_job.py; return its one-line JSON summary (raises with its output)."""
    return summary_line(run_spark_script(load_settings(), SCRIPT, timeout_s=JOB_TIMEOUT_S))
