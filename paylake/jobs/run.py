"""Run a declared job in this process, as a Spark Connect client (or on a session of its own)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import Any

from paylake.jobs import Job
from paylake.settings import Settings

log = logging.getLogger(__name__)


def entry(job: Job) -> Callable[..., Any]:
    module, _, function = job.entry.partition(":")
    return getattr(importlib.import_module(module), function)


def run(job: Job, settings: Settings, **arguments: Any) -> str:
    """Open a session, run ``job``'s entry with ``arguments``, close the session; return the one-line JSON
    summary. A Spark Connect session is a client: closing it leaves the server (and its warm JVM) up. A job
    without Spark (``job.spark`` false) runs its entry here directly."""
    if not job.spark:
        summary = str(entry(job)(settings, **arguments).summary())
        log.info("%s: %s", job.name, summary)
        return summary
    from paylake.spark import active, build_session

    spark = build_session(settings, job.app_name)
    try:
        for key, value in job.spark_conf.items():
            spark.conf.set(key, value)
        with active(spark):
            summary = str(entry(job)(spark, settings, **arguments).summary())
    finally:
        spark.stop()
    log.info("%s: %s", job.name, summary)
    return summary
