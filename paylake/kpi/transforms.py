"""Pure DataFrame → DataFrame steps of the KPI job: join the dimensions, then fold rows into minutes.

No I/O here: the job reads the frames (paylake.kpi.job) and writes the results (paylake.kpi.buckets), so
every function can be tested on a handful of rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from paylake.kpi import histogram
from paylake.kpi.headline import SLOT_S
from paylake.kpi.rules import RULES

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

UNKNOWN_CATEGORY = "unknown"
UNRESOLVED = -1  # latency_bucket of a latency at a histogram edge: buckets.fold decides it from EDGES
EDGE_TOLERANCE = 1e-6  # in units of log10(latency) x PER_DECADE: ~2e-9 relative to the latency
# What an alert carries (alerts.from_row), collected per cell by minute_cells.
ALERT_COLUMNS = ("_id", "customer_id", "merchant_id", "amount", "is_fraud", "rules", "event_ms", "ingest_ms")


def merchant_schema() -> StructType:
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField("_id", T.StringType(), False), T.StructField("name", T.StringType())]
        + [T.StructField(n, T.StringType()) for n in ("category", "city", "country")]
        + [T.StructField(n, T.DoubleType()) for n in ("latitude", "longitude", "commission_rate")]
    )


def customer_schema() -> StructType:
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(n, T.StringType()) for n in ("_id", "home_city", "home_country", "segment")]
        + [
            T.StructField(n, T.DoubleType())
            for n in ("home_latitude", "home_longitude", "typical_amount", "spend_index")
        ]
    )


def category_schema() -> StructType:
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(n, T.StringType()) for n in ("_id", "name", "description")]
        + [T.StructField(n, T.DoubleType()) for n in ("commission_rate", "median_amount")]
    )


def latency_bucket(latency: Column) -> Column:
    """Spark twin of histogram.bucket_of (the number of histogram.EDGES <= latency), or UNRESOLVED for a
    latency within EDGE_TOLERANCE of an edge in log space, which buckets.fold settles in Python.

    Away from the edges, log10 decides exactly: Java's and C's log10 differ in the last bit, ~1e-13 here,
    far inside the tolerance; the stored edges are within a bit of the true ones. At an edge (in practice
    the powers of ten, whose edges are exact: a latency of 100.0 ms) only the table can decide, and the
    table as a literal (1,921 doubles, twice) cost every refresh ~30 % of the server's CPU: converted,
    analysed, serialised with each task and printed into each plan's description.
    """
    from pyspark.sql import functions as F

    scaled = F.log10(latency) * histogram.PER_DECADE
    guess = F.floor(scaled).cast("int") + histogram.OFFSET
    at_edge = F.abs(scaled - F.rint(scaled)) < EDGE_TOLERANCE
    in_range = F.least(F.greatest(guess, F.lit(1)), F.lit(histogram.LAST))
    return (F.when(latency < histogram.MIN_MS, F.lit(0)).when(latency >= histogram.MAX_MS, F.lit(histogram.LAST))
            .when(at_edge, F.lit(UNRESOLVED)).otherwise(in_range).cast("int"))


def merchant_dimension(merchants: DataFrame, categories: DataFrame) -> DataFrame:
    """Merchants with their category's rate and median amount, one row per merchant: the two small
    dimensions joined once, so that a loop of refreshes keeps one frame and broadcasts it once per
    refresh instead of two (each broadcast is a job of its own on the server)."""
    from pyspark.sql import functions as F

    m = merchants.select(
        F.col("_id").alias("merchant_id"),
        F.col("category").alias("m_category"),
        F.col("commission_rate").alias("m_rate"),
    )
    c = categories.select(
        F.col("_id").alias("m_category"), F.col("commission_rate").alias("c_rate"), F.col("median_amount")
    )
    return m.join(F.broadcast(c), "m_category", "left")


def enrich(tx: DataFrame, merchants: DataFrame, categories: DataFrame, customers: DataFrame) -> DataFrame:
    """Transactions (Mongo column names, ``_id`` = transaction id) with their dimensions and derived columns
    (``enrich_with`` on the ``merchant_dimension``)."""
    return enrich_with(tx, merchant_dimension(merchants, categories), customers)


def enrich_with(tx: DataFrame, merchant_dim: DataFrame, customers: DataFrame) -> DataFrame:
    """Transactions with the ``merchant_dimension`` and their customers, and the derived columns.

    A merchant missing from the dimension gets category ``unknown`` and commission 0 rather than dropping
    the row: counts must stay exact even when dimensions lag. The merchant's own commission rate wins; the
    category's rate is the fallback.
    """
    from pyspark.sql import functions as F

    cu = customers.select(F.col("_id").alias("customer_id"), F.col("typical_amount"), F.col("spend_index"))
    out = tx.join(F.broadcast(merchant_dim), "merchant_id", "left").join(F.broadcast(cu), "customer_id", "left")
    # What this customer usually pays in this category: the category's median scaled by the customer's
    # spend_index (1.0 = a standard customer), a per-row product: no statistic over the whole dimension, so
    # the job needs only the customers its new rows name. The category's median alone when the customer
    # (or its index) is missing; the customer's typical amount alone when the category is; else null.
    expected = F.coalesce(
        F.col("median_amount") * F.col("spend_index"),
        F.col("median_amount"),
        F.col("typical_amount"),
    )
    approved = F.col("status") == "approved"
    rate = F.coalesce(F.col("m_rate"), F.col("c_rate"), F.lit(0.0))
    # One withColumns (not one withColumn each): on Spark Connect every nested relation is converted and
    # analysed on its own, so a chain of eight costs the server eight analyses of a growing plan.
    derived = {
        "category": F.coalesce(F.col("m_category"), F.lit(UNKNOWN_CATEGORY)),
        "commission_rate": rate,
        "expected_amount": expected,
        "approved": approved,
        "approved_amount": F.when(approved, F.col("amount")).otherwise(F.lit(0.0)),
        "revenue": F.when(approved, F.col("amount") * rate).otherwise(F.lit(0.0)),
        # Epoch seconds of the event-time minute: no time-zone conversion on the way to Python.
        "minute_s": (F.floor(F.unix_seconds("event_time") / 60) * 60).cast("long"),
        "latency_bucket": latency_bucket(F.col("latency_ms")),
    }
    return out.withColumns(derived).drop("m_category", "m_rate", "c_rate")


def minute_cells(flagged: DataFrame, slots_since_s: int | None = None) -> DataFrame:
    """Additive sums per (event-time minute, slot, category, latency bucket): one shuffle, few rows; and the
    cell's flagged rows as ``alerts`` (structs of ALERT_COLUMNS), so that one action returns all a refresh
    writes (each Spark action costs the server 0.1-0.5 s of CPU whatever its size).

    ``slot_s`` is the event time's SLOT_S-second slot (epoch seconds) for events at or after
    ``slots_since_s`` (the recent ones, which the last-60-seconds window needs), null for the others (and
    for all when None), so older events make no more cells than one per minute.

    Input: ``enrich`` + ``rules.flag`` output (new rows only). buckets.fold adds the cells of a minute (or
    slot) into its bucket: sums add up, ``n`` per latency bucket makes the histogram, revenue per category
    the map.
    """
    from pyspark.sql import functions as F

    seconds = F.unix_seconds("event_time")
    recent = F.lit(False) if slots_since_s is None else seconds >= F.lit(slots_since_s)
    slot = F.when(recent, (F.floor(seconds / SLOT_S) * SLOT_S).cast("long"))

    def total(condition: Column) -> Column:
        return F.sum(F.when(condition, 1).otherwise(0)).cast("long")

    fraud = F.col("is_fraud")
    alert = F.struct(
        *ALERT_COLUMNS[:6],
        F.unix_millis("event_time").alias("event_ms"),
        F.unix_millis("ingest_time").alias("ingest_ms"),
    )
    return flagged.withColumn("slot_s", slot).groupBy("minute_s", "slot_s", "category", "latency_bucket").agg(
        F.count(F.lit(1)).alias("count"),
        F.sum("amount").alias("amount"),
        total(F.col("approved")).alias("approved_count"),
        F.sum("approved_amount").alias("approved_amount"),
        total(fraud).alias("fraud_count"),
        total(F.col("flagged")).alias("flagged_count"),
        total(F.col("flagged") & fraud).alias("flagged_fraud_count"),
        F.sum("latency_ms").alias("latency_sum"),
        F.sum("revenue").alias("revenue"),
        *[total(F.col(f"rule_{rule}")).alias(f"rule_{rule}") for rule in RULES],
        F.collect_list(F.when(F.col("flagged"), alert)).alias("alerts"),  # collect_list skips the nulls
        F.collect_list(F.when(F.col("latency_bucket") == UNRESOLVED, F.col("latency_ms"))).alias("edge_latencies"),
    )
