"""The four daily marts, pure DataFrame → DataFrame (no I/O: paylake.marts.job reads and writes).

Input rows are the fact of one UTC date after the KPI job's own ``enrich`` and ``rules.flag`` (so a
mart's category, commission and rule flags are decided exactly as the live KPIs decide them), with the
merchants dimension joined by ``prepare``. Every join is a left join: a dangling key keeps its row (its
category is ``unknown``, its merchant name null) so that counts stay exact and the gates report the key.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from paylake.kpi import rules, transforms

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

RFM_SCORES = 5  # recency, frequency and monetary value each scored 1..5 by percentile
# (segment, condition on the r/f/m scores), the first that holds wins: a common simplification of RFM grids.
RFM_SEGMENTS: tuple[tuple[str, str], ...] = (
    ("champions", "r >= 4 and f >= 4 and m >= 4"),
    ("loyal", "r >= 3 and f >= 4"),
    ("new", "r >= 4 and f <= 2"),
    ("at_risk", "r <= 2 and f >= 3"),
    ("hibernating", "r <= 2 and f <= 2"),
    ("potential", "true"),
)


def prepare(window: DataFrame, merchants: DataFrame, categories: DataFrame, customers: DataFrame,
            day: tuple[datetime, datetime]) -> DataFrame:
    """The date's rows (event time in ``day`` = [start, end)), enriched and flagged. ``window`` holds them
    plus a lookback before ``start`` (the rules' windows reach back across midnight), named as in the lake
    (``transaction_id``); the lookback rows are dropped after flagging."""
    from pyspark.sql import functions as F

    rows = window.withColumnRenamed("transaction_id", "_id")
    flagged = rules.flag(transforms.enrich(rows, merchants, categories, customers))
    start, end = day
    names = merchants.select(F.col("_id").alias("merchant_id"), F.col("name").alias("merchant_name"),
                             F.col("country").alias("merchant_country"))
    return (flagged.where((F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end)))
            .join(F.broadcast(names), "merchant_id", "left"))


def _count(condition: Column) -> Column:
    from pyspark.sql import functions as F

    return F.sum(F.when(condition, 1).otherwise(0)).cast("long")


def _ratio(part: Column, whole: Column) -> Column:
    from pyspark.sql import functions as F

    return F.when(whole > 0, part / whole)


def _day_aggregates() -> list[Column]:
    from pyspark.sql import functions as F

    return [
        F.count(F.lit(1)).alias("transactions"),
        F.sum("amount").alias("amount"),
        F.sum("approved_amount").alias("approved_amount"),
        _count(F.col("is_fraud")).alias("fraud_count"),
        _count(F.col("flagged")).alias("flagged"),
        _count(F.col("flagged") & F.col("is_fraud")).alias("flagged_fraud"),
        F.sum("revenue").alias("commission"),
    ]


def daily_summary(rows: DataFrame) -> DataFrame:
    """One row for the date (``category`` null) and one per category: transactions, amount, approved
    amount, average ticket, fraud count and rate, rule flags and their precision, commission revenue
    (the merchant's rate on approved amounts)."""
    from pyspark.sql import functions as F

    out = rows.withColumn("date", F.to_date("event_time")).rollup("date", "category").agg(*_day_aggregates())
    out = out.where(F.col("date").isNotNull())  # rollup's grand total: one date only, it repeats the date row
    return out.withColumns({
        "avg_ticket": _ratio(F.col("amount"), F.col("transactions")),
        "fraud_rate": _ratio(F.col("fraud_count"), F.col("transactions")),
        "flagged_share": _ratio(F.col("flagged"), F.col("transactions")),
        "rule_precision": _ratio(F.col("flagged_fraud"), F.col("flagged")),
    })


def merchant_daily(rows: DataFrame) -> DataFrame:
    """Per merchant: sales (approved amount), average ticket, fraud rate, commission earned, category,
    country, and commission efficiency (commission per transaction and per unit of sales) beside its
    category's on the same date (``efficiency_index`` = the merchant's per unit over the category's)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    per = (rows.withColumn("date", F.to_date("event_time"))
           .groupBy("date", "merchant_id")
           .agg(F.first("merchant_name", ignorenulls=True).alias("name"),
                F.first("category").alias("category"),
                F.first("merchant_country", ignorenulls=True).alias("country"),
                F.count(F.lit(1)).alias("transactions"), F.sum("amount").alias("amount"),
                F.sum("approved_amount").alias("sales"), _count(F.col("is_fraud")).alias("fraud_count"),
                F.sum("revenue").alias("commission")))
    category = Window.partitionBy("date", "category")
    cat_commission, cat_sales = F.sum("commission").over(category), F.sum("sales").over(category)
    out = per.withColumns({
        "avg_ticket": _ratio(F.col("amount"), F.col("transactions")),
        "fraud_rate": _ratio(F.col("fraud_count"), F.col("transactions")),
        "commission_per_tx": _ratio(F.col("commission"), F.col("transactions")),
        "commission_per_sales": _ratio(F.col("commission"), F.col("sales")),
        "category_commission_per_tx": _ratio(cat_commission, F.sum("transactions").over(category)),
        "category_commission_per_sales": _ratio(cat_commission, cat_sales),
    })
    return out.withColumn("efficiency_index",
                          _ratio(F.col("commission_per_sales"), F.col("category_commission_per_sales")))


def hourly_patterns(rows: DataFrame) -> DataFrame:
    """Transactions, amount, fraud and flags by the payer's local hour × local weekday (1 = Monday), local
    time by solar offset round(longitude / 15) h, as the fraud rules reckon it. A UTC date's rows span
    local dates on either side, so one date contributes to up to three weekdays."""
    from pyspark.sql import functions as F

    offset_s = F.round(F.col("longitude") / 15).cast("long") * 3600
    local = F.timestamp_seconds(F.unix_seconds("event_time") + offset_s)
    out = (rows.withColumns({"date": F.to_date("event_time"), "_local": local})
           .groupBy("date", F.pmod(F.dayofweek("_local") + 5, 7).alias("weekday0"),
                    F.hour("_local").alias("local_hour"))
           .agg(F.count(F.lit(1)).alias("transactions"), F.sum("amount").alias("amount"),
                _count(F.col("is_fraud")).alias("fraud_count"), _count(F.col("flagged")).alias("flagged")))
    return out.withColumns({"weekday": (F.col("weekday0") + 1).cast("int"),
                            "fraud_rate": _ratio(F.col("fraud_count"), F.col("transactions"))}).drop("weekday0")


def _score(order: Column) -> Column:
    """1..RFM_SCORES by percent rank (ties share a score, unlike ntile's arbitrary split). One window over
    every customer of the trailing window, so one partition: meant, and small (job.run silences Spark's
    warning about it)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rank = F.percent_rank().over(Window.orderBy(order))
    return F.least(F.lit(RFM_SCORES), (F.floor(rank * RFM_SCORES) + 1)).cast("int")


def customer_segments(window: DataFrame, customers: DataFrame, as_of: datetime, window_days: int) -> DataFrame:
    """Per customer over the trailing ``window`` of transactions (event times before ``as_of``, the end of
    the date): recency (days since the last transaction), frequency, monetary value, their 1..5 scores,
    the RFM segment (RFM_SEGMENTS) and the fraud ratio, with the customer's spend segment and country
    from the dimension. Rows without a customer id are left out (the not-null gate reports them)."""
    from pyspark.sql import functions as F

    per = (window.where(F.col("customer_id").isNotNull()).groupBy("customer_id")
           .agg(F.max("event_time").alias("last_event_time"), F.count(F.lit(1)).alias("frequency"),
                F.sum("amount").alias("monetary"), _count(F.col("is_fraud")).alias("fraud_count")))
    recency = (F.lit(as_of.timestamp()) - F.unix_millis("last_event_time") / 1000.0) / 86400.0
    scored = per.withColumn("recency_days", recency).withColumns({
        "r": _score(F.col("recency_days").desc()),
        "f": _score(F.col("frequency").asc()),
        "m": _score(F.col("monetary").asc()),
    })
    segment = F.lit(None)
    for name, condition in reversed(RFM_SEGMENTS):
        segment = F.when(F.expr(condition), F.lit(name)).otherwise(segment)
    dim = customers.select(F.col("_id").alias("customer_id"), F.col("segment").alias("spend_segment"),
                           F.col("home_country"))
    return (scored.withColumns({"rfm_segment": segment, "fraud_ratio": F.col("fraud_count") / F.col("frequency"),
                                "date": F.lit((as_of - timedelta(milliseconds=1)).date()),
                                "window_days": F.lit(window_days)})
            .withColumnsRenamed({"r": "r_score", "f": "f_score", "m": "m_score"})
            .join(F.broadcast(dim), "customer_id", "left"))
