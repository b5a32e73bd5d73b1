"""What a spark-submit run's output is reduced to in the Airflow task log and in a JobError."""

from paylake.jobs import job_lines

OUTPUT = """WARNING: Using incubator modules: jdk.incubator.vector
Using Spark's default log4j profile: org/apache/spark/log4j2-defaults.properties
26/11/24 19:53:06 INFO SparkContext: Running Spark version 4.0.1
26/11/24 19:53:07 WARN NativeCodeLoader: Unable to load native-hadoop library
2026-11-24 19:55:38,118 INFO paylake.kpi.job: kpi: range read in 18.7s

Traceback (most recent call last):
pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:27017: [Errno 111] Connection refused
2026-11-24 19:56:09,456 INFO py4j.clientserver: Closing down clientserver connection
"""


def test_job_lines_keep_the_job_and_drop_spark_noise() -> None:
    assert job_lines(OUTPUT) == [
        "2026-11-24 19:55:38,118 INFO paylake.kpi.job: kpi: range read in 18.7s",
        "Traceback (most recent call last):",
        "pymongo.errors.ServerSelectionTimeoutError: 127.0.0.1:27017: [Errno 111] Connection refused",
    ]


def test_a_job_past_its_timeout_raises_a_job_error_with_its_output(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import pytest

    from paylake import jobs
    from paylake.settings import Settings

    monkeypatch.setattr(jobs, "submit_command", lambda *_a: ["sh", "-c", "echo started; sleep 5"])
    with pytest.raises(jobs.JobError, match=r"kpi_job.py did not finish within 1 s and was stopped:\nstarted"):
        jobs.run_spark_script(Settings(), "kpi_job.py", timeout_s=1)


def test_summary_line_is_the_last_json_line() -> None:
    from paylake.jobs import summary_line

    assert summary_line('progress\n{"a": 1}\n{"b": 2}\nbye\n') == '{"b": 2}'
    assert summary_line("no summary") == "no summary"
