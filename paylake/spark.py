"""The one place that builds a SparkSession: connector jars, master URL, UTC, HDFS reachable."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from paylake.settings import Settings
from paylake.stack.process import StackError
from paylake.stack.servers import spark_jars

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


def spark_conf(settings: Settings) -> dict[str, str]:
    """Spark properties for paylake jobs (also passed to spark-submit as --conf)."""
    jars = sorted(spark_jars(settings).glob("*.jar"))
    if not jars:
        raise StackError(f"the MongoDB Spark connector jars are missing in {spark_jars(settings)}: run `make setup`")
    conf = {
        "spark.jars": ",".join(str(j) for j in jars),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark_shuffle_partitions),
        # Match BSON's millisecond dates and the Arrow schema of the archive.
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MILLIS",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.ui.showConsoleProgress": "false",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
    }
    if settings.cold_is_hdfs:
        conf["spark.hadoop.fs.defaultFS"] = f"hdfs://127.0.0.1:{settings.namenode_port}"
        conf["spark.hadoop.dfs.client.use.datanode.hostname"] = "true"
    if settings.spark_master.startswith("local"):
        conf["spark.ui.enabled"] = "false"
        conf["spark.driver.host"] = "127.0.0.1"  # stay on loopback: no lookups of the machine's own name
        conf["spark.driver.bindAddress"] = "127.0.0.1"
    return conf


def build_session(settings: Settings, app_name: str) -> SparkSession:
    """Start (or reuse) the SparkSession for ``app_name`` on ``settings.spark_master``."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).master(settings.spark_master)
    for key, value in spark_conf(settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    return session


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


def doc_row(doc: dict[str, Any], schema: StructType) -> tuple[Any, ...]:
    """A MongoDB document as a row of ``schema`` (string and double fields), as the connector reads it: a
    missing field or a value of another type is null, an integer in a double field a float."""
    from pyspark.sql import types as T

    def value(field: T.StructField) -> Any:
        v = doc.get(field.name)
        if isinstance(field.dataType, T.DoubleType):
            return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
        if isinstance(field.dataType, T.StringType):
            return v if isinstance(v, str) else None
        raise TypeError(f"doc_row handles string and double fields, not {field.dataType} ({field.name})")

    return tuple(value(f) for f in schema.fields)
