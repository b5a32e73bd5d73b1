"""Run a job with spark-submit, a JVM of its own per run: the path before Spark Connect, kept for
clusters reached only through spark-submit and as the baseline of `bench/freshness.py`.

spark-submit runs ``paylake/jobs/main.py`` (a file of the installed package) on PAYLAKE_SPARK_MASTER, with
the settings passed on as PAYLAKE_* variables.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from paylake.errors import ServiceError
from paylake.jobs import Job, main
from paylake.settings import Settings, settings_env
from paylake.spark import server_conf

# A submitted run is stopped this long before its task's execution_timeout, so it fails with its output.
MARGIN_S = 60.0
log = logging.getLogger(__name__)
# Spark's own log lines and start-up banners, and py4j's: noise around the job's progress and errors.
SPARK_LOG_LINE = re.compile(
    r"^\d\d/\d\d/\d\d \d\d:\d\d:\d\d (INFO|WARN) "
    r"|^WARNING: Using incubator modules|^Using Spark's default log4j profile| INFO py4j\."
)


class JobError(ServiceError):
    """A Spark job exited with an error; the message carries the tail of its output."""


def spark_submit_binary() -> str:
    """spark-submit from the same environment as this Python (pyspark ships it)."""
    beside = Path(sys.executable).parent / "spark-submit"
    found = str(beside) if beside.exists() else shutil.which("spark-submit")
    if not found:
        raise JobError("spark-submit not found: run `make setup` (pyspark provides it)")
    return found


def submit_command(settings: Settings, job: Job, args: Sequence[str] = ()) -> list[str]:
    conf = server_conf(settings)
    argv = [spark_submit_binary(), "--master", settings.spark_master, "--jars", conf.pop("spark.jars")]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, str(Path(main.__file__)), job.name, *args]


def job_lines(output: str) -> list[str]:
    """The job's own lines: Spark's log lines would bury its progress and errors."""
    return [line for line in output.splitlines() if line.strip() and not SPARK_LOG_LINE.search(line)]


def _text(output: bytes | str | None) -> str:
    """A timed-out run's partial output, which Python may hand back as bytes even with text=True."""
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


def summary_line(output: str) -> str:
    """A job's one-line JSON summary: the last stdout line that is a JSON object (else the output's tail)."""
    lines = [line for line in output.splitlines() if line.startswith("{")]
    return lines[-1] if lines else output[-2000:]


def submit(settings: Settings, job: Job, args: Sequence[str] = (), timeout_s: float | None = None) -> str:
    """spark-submit ``job`` with its command-line ``args``; return its stdout, raise JobError with its output
    on failure or when it outlives ``timeout_s`` (default: the job's timeout less a margin)."""
    if not job.spark:
        raise ValueError(f"job {job.name} does not run on Spark: run it with paylake.jobs.run, not spark-submit")
    timeout_s = timeout_s or job.timeout.total_seconds() - MARGIN_S
    script = job.name
    env = {**os.environ, **settings_env(settings), "PYSPARK_PYTHON": sys.executable}
    try:
        done = subprocess.run(
            submit_command(settings, job, args), env=env, capture_output=True, text=True, timeout=timeout_s
        )
    except subprocess.TimeoutExpired as exc:
        output = "".join(_text(part) for part in (exc.stdout, exc.stderr))
        tail = "\n".join(job_lines(output)[-20:])
        raise JobError(f"{script} did not finish within {timeout_s:.0f} s and was stopped:\n{tail}") from None
    lines = job_lines(done.stdout + done.stderr)
    if done.returncode != 0:
        tail = "\n".join(lines[-40:])
        raise JobError(f"{script} failed with exit code {done.returncode}:\n{tail}")
    for line in lines[-40:]:  # the job's progress lines into the caller's log (the Airflow task log)
        log.info("%s | %s", script, line)
    return done.stdout
