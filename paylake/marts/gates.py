"""Data-quality gates on one date's fact (hot ∪ cold) and its staged marts, run before the date is published.

The checks on the fact come from the schema (paylake.schema: required keys, value ranges, accepted values)
plus uniqueness and referential integrity; one Spark aggregation counts every check's offending rows, and
only a failing check costs a second, small action for a few offending ids. ``row_count`` compares the
fact's count with what each staged mart (read back from storage) says it counted.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from paylake import schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

SAMPLE = 5  # offending ids shown per failed check
KEYS = ("transaction_id", "event_time", "customer_id", "merchant_id")


@dataclass(frozen=True)
class CheckResult:
    name: str
    detail: str  # what the check asserts
    count: int  # offending rows (row_count: the largest difference)
    sample: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.count == 0

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}

    def line(self) -> str:
        shown = f" (e.g. {', '.join(self.sample)})" if self.sample else ""
        return f"{self.name}: {self.count} offending — {self.detail}{shown}"


def _bounds(f: schema.Field) -> str:
    low = "" if f.min_value is None else f"{'>' if f.exclusive_min else '>='} {f.min_value:g}"
    high = "" if f.max_value is None else f"<= {f.max_value:g}"
    return " and ".join(part for part in (low, high) if part)


def _range(f: schema.Field) -> Column:
    from pyspark.sql import functions as F

    value, bad = F.col(f.name), F.col(f.name).isNull()
    if f.min_value is not None:
        bad = bad | ((value <= f.min_value) if f.exclusive_min else (value < f.min_value))
    if f.max_value is not None:
        bad = bad | (value > f.max_value)
    return bad


def conditions() -> dict[str, tuple[str, Column]]:
    """Every fact check: name → (what it asserts, the condition an offending row meets). Needs the columns
    ``joined`` adds."""
    from pyspark.sql import functions as F

    checks: dict[str, tuple[str, Column]] = {
        "unique_transaction_id": ("each transaction id once across hot and cold", F.col("_copies") > 1),
    }
    for key in KEYS:
        checks[f"not_null_{key}"] = (f"{key} is set", F.col(key).isNull())
    checks["referential_merchant"] = ("merchant_id is in merchants",
                                      F.col("merchant_id").isNotNull() & ~F.col("_merchant_found"))
    checks["referential_customer"] = ("customer_id is in customers",
                                      F.col("customer_id").isNotNull() & ~F.col("_customer_found"))
    checks["referential_category"] = ("the merchant's category is in categories",
                                      F.col("_merchant_found") & ~F.col("_category_found"))
    for f in schema.FIELDS:
        if f.min_value is not None or f.max_value is not None:
            checks[f"range_{f.name}"] = (f"{f.name} {_bounds(f)}", _range(f))
        if f.allowed is not None:
            bad = F.col(f.name).isNull() | ~F.col(f.name).isin(list(f.allowed))
            checks[f"accepted_{f.name}"] = (f"{f.name} in {', '.join(f.allowed)}", bad)
    return checks


def joined(fact: DataFrame, merchants: DataFrame, categories: DataFrame, customers: DataFrame) -> DataFrame:
    """The fact with what the checks look at: copies of its id, and whether its keys resolve."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    m = merchants.select(F.col("_id").alias("merchant_id"), F.col("category").alias("_merchant_category"),
                         F.lit(True).alias("_m"))
    c = categories.select(F.col("_id").alias("_merchant_category"), F.lit(True).alias("_c"))
    cu = customers.select(F.col("_id").alias("customer_id"), F.lit(True).alias("_cu"))
    out = (fact.join(F.broadcast(m), "merchant_id", "left").join(F.broadcast(c), "_merchant_category", "left")
           .join(F.broadcast(cu), "customer_id", "left"))
    return out.withColumns({
        "_copies": F.count(F.lit(1)).over(Window.partitionBy("transaction_id")),
        "_merchant_found": F.col("_m").isNotNull(),
        "_category_found": F.col("_c").isNotNull(),
        "_customer_found": F.col("_cu").isNotNull(),
    })


def check_fact(fact: DataFrame, merchants: DataFrame, categories: DataFrame,
               customers: DataFrame) -> tuple[int, list[CheckResult]]:
    """(rows in the fact, one result per check in ``conditions``)."""
    from pyspark.sql import functions as F

    rows, checks = joined(fact, merchants, categories, customers), conditions()
    counts = rows.agg(F.count(F.lit(1)).alias("_rows"),
                      *[F.sum(F.when(cond, 1).otherwise(0)).alias(name) for name, (_, cond) in checks.items()]).first()
    results = []
    for name, (detail, cond) in checks.items():
        count = int(counts[name] or 0) if counts else 0
        sample = _sample(rows.where(cond)) if count else []
        results.append(CheckResult(name, detail, count, sample))
    return int(counts["_rows"]) if counts else 0, results


def _sample(offending: DataFrame) -> list[str]:
    from pyspark.sql import functions as F

    ids = offending.select(F.coalesce(F.col("transaction_id"), F.lit("<no id>")).alias("id")).distinct()
    return sorted(r["id"] for r in ids.orderBy("id").limit(SAMPLE).collect())


def row_count(fact_rows: int, mart_rows: dict[str, int]) -> CheckResult:
    """The date's transactions as the fact and each mart count them (``mart_rows``: mart → its total)."""
    off = {name: n for name, n in mart_rows.items() if n != fact_rows}
    worst = max((abs(n - fact_rows) for n in off.values()), default=0)
    sample = [f"{name}={n}" for name, n in sorted(off.items())] + ([f"fact={fact_rows}"] if off else [])
    return CheckResult("row_count", "each mart counts the date's fact rows exactly", worst, sample)
