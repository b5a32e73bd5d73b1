"""Run a Spark job script with spark-submit: how Airflow tasks and `paylake` commands start jobs.

The job scripts in scripts/ are thin entry points over the package; the same script runs on a local
master or a cluster (PAYLAKE_SPARK_MASTER), with the settings passed on as PAYLAKE_* variables.
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
from paylake.settings import REPO_ROOT, Settings, settings_env
from paylake.spark import spark_conf

SCRIPTS_DIR = REPO_ROOT / "scripts"
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


def submit_command(settings: Settings, script: str, args: Sequence[str] = ()) -> list[str]:
    path = SCRIPTS_DIR / script
    if not path.exists():
        raise JobError(f"no job script {path}")
    conf = spark_conf(settings)
    argv = [spark_submit_binary(), "--master", settings.spark_master, "--jars", conf.pop("spark.jars")]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return [*argv, str(path), *args]


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


def run_spark_script(settings: Settings, script: str, args: Sequence[str] = (), timeout_s: float = 1800) -> str:
    """spark-submit ``scripts/<script>``; return its stdout, raise JobError with its output on failure."""
    env = {**os.environ, **settings_env(settings), "PYSPARK_PYTHON": sys.executable}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    try:
        done = subprocess.run(
            submit_command(settings, script, args), env=env, capture_output=True, text=True, timeout=timeout_s
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
