"""The job declarations, and what a spark-submit run's output is reduced to in a task log and a JobError."""

from datetime import timedelta

import pytest

from paylake.jobs import ARCHIVE, DAILY_MARTS, JOBS, KPI_REFRESH, Job
from paylake.jobs.run import entry
from paylake.jobs.submit import job_lines, summary_line

OUTPUT = """WARNING: Using incubator modules: jdk.incubator.vector
Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties
26/11/24 19:53:06 INFO SparkContext: Running Spark version 4.0.1
26/11/24 19:53:07 WARN NativeCodeLoader: Unable to load native-hadoop library
2026-11-24 19:55:38,118 INFO paylake.kpi.job: kpi: range read in 18.7s

Traceback (most recent call last):
pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:27017: [Errno 111] Connection refused
2026-11-24 19:56:09,456 INFO py4j.clientserver: Closing down clientserver connection
"""


def test_every_job_names_an_entry_that_exists() -> None:
    assert set(JOBS) == {KPI_REFRESH.name, ARCHIVE.name, DAILY_MARTS.name}
    for job in JOBS.values():
        assert callable(entry(job)), job.entry


def test_a_lock_must_outlast_its_jobs_timeout() -> None:
    with pytest.raises(ValueError, match="lock TTL must outlast"):
        Job("x", "m:f", every=timedelta(minutes=1), timeout=timedelta(minutes=10), lock_ttl=timedelta(minutes=5))


def test_job_lines_keep_the_job_and_drop_spark_noise() -> None:
    assert job_lines(OUTPUT) == [
        "2026-11-24 19:55:38,118 INFO paylake.kpi.job: kpi: range read in 18.7s",
        "Traceback (most recent call last):",
        "pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:27017: [Errno 111] Connection refused",
    ]


def test_a_job_past_its_timeout_raises_a_job_error_with_its_output(monkeypatch: pytest.MonkeyPatch) -> None:
    from paylake.jobs import submit
    from paylake.settings import Settings

    monkeypatch.setattr(submit, "submit_command", lambda *_a: ["sh", "-c", "echo started; sleep 5"])
    with pytest.raises(submit.JobError, match=r"kpi_refresh did not finish within 1 s and was stopped:\nstarted"):
        submit.submit(Settings(), KPI_REFRESH, timeout_s=1)


def test_summary_line_is_the_last_json_line() -> None:
    assert summary_line('progress\n{"a": 1}\n{"b": 2}\nbye\n') == '{"b": 2}'
    assert summary_line("no summary") == "no summary"
