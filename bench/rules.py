"""Fraud rules against the labelled reference table: how many they flag, precision, recall, per rule.

    .venv/bin/python bench/rules.py [--csv TABLE.csv.gz]

The reference table (50,000 rows, 28 days, ~4,800 customers, 1.5 % fraud of four kinds, local-time hours)
has realistic per-customer activity and labels; bench/realism.py runs the same rules on the live stream
beside it. The rules are the KPI job's own (``paylake.kpi.rules``
on ``paylake.kpi.transforms.enrich``, run by Spark on all rows at once), the dimensions those the reference
was simulated with. Baseline in the same run: flagging the same number of rows at random, whose expected
precision is the fraud rate (lift = precision / fraud rate).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import pandas as pd

from paylake import schema
from paylake.data import REFERENCE_CSV
from paylake.generator.dimensions import Dimensions, build_dimensions
from paylake.kpi import rules, transforms
from paylake.settings import load_settings
from paylake.spark import build_session
from paylake.stack.checkout import in_process_spark


def reference_records(csv: Path) -> list[dict[str, Any]]:
    """The reference rows as MongoDB documents; ingest time = event time (rules use event time only)."""
    table = pd.read_csv(csv, parse_dates=["event_time"])
    table["ingest_time"] = table["event_time"]
    rows = table[list(schema.FIELD_NAMES)].to_dict("records")
    for row in rows:
        row["event_time"] = row["ingest_time"] = row["event_time"].to_pydatetime()
    return [schema.to_mongo(r) for r in rows]


def rule_figures(spark: Any, docs: list[dict[str, Any]], dims: Dimensions) -> tuple[pd.DataFrame, float]:
    """The KPI job's rules over MongoDB-shaped ``docs``: per rule (and "any") how many fired, share,
    precision, recall and lift over the fraud rate; and the seconds Spark took."""
    frames = [
        spark.createDataFrame(rows, schema_fn())
        for rows, schema_fn in (
            (dims.merchants, transforms.merchant_schema),
            (dims.categories, transforms.category_schema),
            (dims.customers, transforms.customer_schema),
        )
    ]
    tx = spark.createDataFrame(docs, schema.spark_schema(mongo=True))
    started = time.monotonic()
    flagged = pd.DataFrame(rules.flag(transforms.enrich(tx, *frames)).toPandas())
    seconds = time.monotonic() - started
    fraud = flagged["is_fraud"].astype(bool)
    table = []
    for name in (*rules.RULES, "any"):
        fired = flagged["flagged" if name == "any" else f"rule_{name}"].astype(bool)
        hits = int((fired & fraud).sum())
        precision = hits / fired.sum() if fired.sum() else 0.0
        table.append({"rule": name, "rows": len(fired), "fraud": int(fraud.sum()), "hits": hits,
                      "flagged": int(fired.sum()), "share": float(fired.mean()),
                      "precision": precision, "recall": hits / max(int(fraud.sum()), 1),
                      "lift": precision / max(float(fraud.mean()), 1e-9)})
    return pd.DataFrame(table).set_index("rule"), seconds


def pooled(tables: list[pd.DataFrame]) -> pd.DataFrame:
    """Figures of several streams taken together (counts summed, ratios recomputed)."""
    total = sum(t[["rows", "fraud", "hits", "flagged"]] for t in tables)
    assert isinstance(total, pd.DataFrame)
    precision = (total["hits"] / total["flagged"].clip(lower=1))
    return total.assign(share=total["flagged"] / total["rows"], precision=precision,
                        recall=total["hits"] / total["fraud"].clip(lower=1),
                        lift=precision / (total["fraud"] / total["rows"]).clip(lower=1e-9))


def print_figures(table: pd.DataFrame) -> None:
    print(f"{'rule':<10} {'flagged':>9} {'share':>7} {'precision':>10} {'recall':>7} {'lift':>6}")
    for name, row in table.iterrows():
        print(f"{name:<10} {int(row['flagged']):>9,} {row['share']:>7.2%} {row['precision']:>10.1%} "
              f"{row['recall']:>7.1%} {row['lift']:>6.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=REFERENCE_CSV)
    args = parser.parse_args()

    spark = build_session(in_process_spark(load_settings()), "paylake-bench-rules")
    spark.sparkContext.setLogLevel("ERROR")
    docs = reference_records(args.csv)
    table, seconds = rule_figures(spark, docs, build_dimensions())
    spark.stop()
    rate = sum(bool(d["is_fraud"]) for d in docs) / len(docs)
    print(f"{len(docs):,} reference rows, fraud rate {rate:.2%}; rules evaluated by Spark in {seconds:.1f} s")
    print_figures(table)
    print(f"baseline: random flags at any share have precision {rate:.1%} (lift 1.0)")


if __name__ == "__main__":
    main()
