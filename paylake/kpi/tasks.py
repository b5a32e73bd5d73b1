"""What the Airflow DAG kpi_refresh calls: settings read at run time, never at import."""

from __future__ import annotations

from datetime import datetime

from paylake import clock
from paylake.jobs import KPI_REFRESH
from paylake.jobs.run import run
from paylake.settings import load_settings


def refresh_task(data_interval_end: datetime | None = None) -> str:
    """Refresh the KPIs in a loop until the next run is due (``data_interval_end``, when this run was due, +
    the schedule) or for PAYLAKE_KPI_LOOP_S at most; at least one refresh. Return the loop's one-line JSON
    summary; its last refresh failing fails the task."""
    settings = load_settings()
    ends = (data_interval_end or clock.now()) + KPI_REFRESH.every
    for_s = min((ends - clock.now()).total_seconds(), settings.kpi_loop_s)
    return run(KPI_REFRESH, settings, for_s=max(for_s, 1e-3))
