"""What the Airflow DAG kpi_refresh calls: one function, settings read at run time, never at import."""

from __future__ import annotations

from datetime import datetime

from paylake.jobs import run_spark_script
from paylake.settings import load_settings

SCRIPT = "kpi_job.py"


def refresh_task(data_interval_end: datetime | None = None) -> str:
    """spark-submit scripts/kpi_job.py up to the run's interval end (minus the allowed lateness, in the job);
    return the job's one-line JSON summary. A failure (Redis down included) raises with the job's output."""
    settings = load_settings()
    args = ["--until", data_interval_end.isoformat()] if data_interval_end is not None else []
    output = run_spark_script(settings, SCRIPT, args)
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return lines[-1] if lines else output[-2000:]
