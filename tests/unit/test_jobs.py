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
