"""What the Airflow DAG kpi_refresh calls: one function, settings read at run time, never at import."""

from __future__ import annotations

from datetime import datetime

from paylake.jobs import run_spark_script, summary_line
from paylake.settings import load_settings

SCRIPT = "kpi_job.py"
# Under the DAG's 10-minute execution timeout, so a stuck job ends with its own output in the error.
JOB_TIMEOUT_S = 9 * 60


def refresh_task(data_interval_end: datetime | None = None) -> str:
    """spark-submit scripts/kpi_job.py up to the run's interval end (minus the allowed lateness, in the job);
    return the job's one-line JSON summary. A failure (Redis down included) raises with the job's output."""
    settings = load_settings()
    args = ["--until", data_interval_end.isoformat()] if data_interval_end is not None else []
    return summary_line(run_spark_script(settings, SCRIPT, args, timeout_s=JOB_TIMEOUT_S))
