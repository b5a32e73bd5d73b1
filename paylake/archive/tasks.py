"""What the Airflow DAG mongo_to_hdfs_archiving calls: settings are read at run time, never at import."""

from __future__ import annotations

import logging

from paylake.archive import size
from paylake.jobs import ARCHIVE
from paylake.jobs.run import run
from paylake.settings import load_settings

log = logging.getLogger(__name__)


def over_threshold() -> bool:
    """One size check (collStats runs ANALYZE on FerretDB: once per DAG run, never in a loop), recorded in
    Redis for the dashboard. False makes the DAG skip the archive task, with the reason in the log."""
    report = size.check(load_settings())
    if not report.over:
        log.info("skipping the archive run: %s", report.line())
    return report.over


def archive_task() -> str:
    """One archive run (paylake.jobs.ARCHIVE); return its one-line JSON summary."""
    return run(ARCHIVE, load_settings())
