"""The one place that builds a SparkSession: a Spark Connect client, or a session of its own on a master.

With ``PAYLAKE_SPARK_REMOTE`` (the default, the stack's Spark Connect server) a job is a thin client: no JVM
starts, and the server holds the connector jars and the cluster settings (``server_conf``). With it off, a
job starts its own session on ``PAYLAKE_SPARK_MASTER`` (local[*] or a standalone spark://… master), paying
the JVM start-up each run.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from paylake.errors import ServiceError, UsageError
from paylake.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

# One query, one partition: what every job here reads with (new data, one archive slice, dimensions). On
# FerretDB each partition is one more query (a full scan unless its filter is a date lower bound that the
# range patch serves), and paginating costs ~15 s of planning queries.
SINGLE_PARTITIONER = "com.mongodb.spark.sql.connector.read.partitioner.SinglePartitionPartitioner"
# For large reads on a real MongoDB. FerretDB v1 lacks $sample/$bucketAuto, which the connector's default
# AutoBucketPartitioner needs, so paginating is the multi-partition choice that works on both.
MONGO_PARTITIONER = "com.mongodb.spark.sql.connector.read.partitioner.PaginateIntoPartitionsPartitioner"


class SparkUnreachable(ServiceError):
    """The Spark Connect server does not answer."""


def session_conf(settings: Settings) -> dict[str, str]:
    """Per-session SQL settings: a Spark Connect client may set these (the server's are static)."""
    return {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        # Match BSON's millisecond dates and the Arrow schema of the archive.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS",
        "spark.sql.parquet.compression.codec": "zstd",
    }


RETAINED = {"spark.sql.ui.retainedExecutions": "50", "spark.ui.retainedJobs": "100", "spark.ui.retainedStages": "100"}


def server_conf(settings: Settings) -> dict[str, str]:
    """Everything a Spark driver for paylake needs: the connector jars, HDFS, UTC (the Spark Connect server
    starts with it; so do sessions of their own and spark-submit, as --conf)."""
    folder = settings.jars_dir / "spark" if settings.jars_dir else None
    jars = sorted(folder.glob("*.jar")) if folder else []
    if not jars:
        raise UsageError(f"no MongoDB Spark connector jars in {folder}: set PAYLAKE_JARS_DIR to the folder "
                         "that holds spark/*.jar (`make setup` fetches them into the checkout's jars/lib)")
    conf = {
        "spark.jars": ",".join(str(j) for j in jars),
        **session_conf(settings),
        "spark.ui.showConsoleProgress": "false",
        # A long-lived server runs a query every few seconds: the status store (kept with the UI off too)
        # would hold 1,000 executions with their plans, old garbage for the collector to trace.
        **RETAINED,
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if settings.cold_is_hdfs:
        conf["spark.hadoop.fs.defaultFS"] = f"hdfs://127.0.0.1:{settings.namenode_port}"
        conf["spark.hadoop.dfs.client.use.datanode.hostname"] = "true"
    if settings.spark_master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
    if settings.spark_master.startswith(("local", "spark://127.0.0.1")):
        conf["spark.driver.host"] = "127.0.0.1"  # stay on loopback: no lookups of the machine's own name
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def _check_reachable(settings: Settings) -> None:
    url = settings.spark_remote
    try:
        socket.create_connection(settings.spark_connect_address, timeout=3).close()
    except OSError as exc:
        raise SparkUnreachable(
            f"the Spark Connect server at {url} does not answer ({exc}); is the stack up? (`paylake stack up`), "
            "or set PAYLAKE_SPARK_REMOTE=off to start Spark in-process"
        ) from None


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """A session for ``app_name``: a Spark Connect client when ``settings.spark_connect_url``, else one of
    its own on ``settings.spark_master``. ``stop()`` it after the job (a client's stop leaves the server)."""
    from pyspark.sql import SparkSession

    url = settings.spark_connect_url
    if url:
        _check_reachable(settings)
        builder = SparkSession.builder.remote(url).appName(app_name)
        conf = session_conf(settings)
    else:
        builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
        conf = server_conf(settings)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if url:  # a session of its own on the server: stopping it must not stop another client's in this process
        return builder.create()
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


@contextmanager
def active(session: SparkSession) -> Iterator[None]:
    """Make ``session`` this thread's active Spark Connect session while a job runs on it.

    pyspark 4.0.1 binds the result of a Connect ``localCheckpoint`` to ``SparkSession.active()``
    (``connect.conversion.proto_to_remote_cached_dataframe``), the thread's first session, not the one that
    checkpointed: with two sessions in a process (a test's and a job's) the checkpoint is then looked up in
    the wrong one ("No DataFrame with id … is found in the session"). A classic session needs nothing.
    """
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError:  # no Connect client installed: only classic sessions exist
        yield
        return
    if not isinstance(session, ConnectSession):
        yield
        return
    slot = ConnectSession._active_session
    before = getattr(slot, "session", None)
    slot.session = session
    try:
        yield
    finally:
        slot.session = before


def read_mongo(
    spark: SparkSession,
    settings: Settings,
    collection: str,
    schema: StructType,
    pipeline: str | None = None,
    partition_size_mb: int = 64,
    partitioner: str = SINGLE_PARTITIONER,
) -> DataFrame:
    """Read a MongoDB collection with an explicit schema (FerretDB cannot infer one: no $sample)."""
    reader = (
        spark.read.format("mongodb")
        .schema(schema)
        .option("connection.uri", settings.mongo_uri)
        .option("database", settings.mongo_db)
        .option("collection", collection)
        .option("partitioner", partitioner)
        .option("partitioner.options.partition.size", str(partition_size_mb))
    )
    if pipeline:
        reader = reader.option("aggregation.pipeline", pipeline)
    return reader.load()
