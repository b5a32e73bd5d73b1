"""Fraud rules against the labelled reference table: how many they flag, precision, recall, per rule.

    .venv/bin/python bench/rules.py [--csv data/reference_transactions.csv.gz]

The reference table (50,000 rows, 27 days, ~4,800 customers, 1.5 % fraud of four kinds) has realistic
per-customer activity and labels; the live demo stream has neither (a quick CTGAN model, customers drawn at
random at 20 tx/s), so rule quality is judged here. The rules are the KPI job's own (``paylake.kpi.rules``
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
from paylake.generator.commands import REFERENCE_CSV
from paylake.generator.dimensions import build_dimensions
from paylake.kpi import rules, transforms
from paylake.settings import load_settings
from paylake.spark import build_session


def reference_records(csv: Path) -> list[dict[str, Any]]:
    """The reference rows as MongoDB documents; ingest time = event time (rules use event time only)."""
    table = pd.read_csv(csv, parse_dates=["event_time"])
    table["ingest_time"] = table["event_time"]
    rows = table[list(schema.FIELD_NAMES)].to_dict("records")
    for row in rows:
        row["event_time"] = row["ingest_time"] = row["event_time"].to_pydatetime()
    return [schema.to_mongo(r) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, default=REFERENCE_CSV)
    args = parser.parse_args()

    spark = build_session(load_settings(), "paylake-bench-rules")
    spark.sparkContext.setLogLevel("ERROR")
    dims = build_dimensions()
    frames = [
        spark.createDataFrame(rows, schema_fn())
        for rows, schema_fn in (
            (dims.merchants, transforms.merchant_schema),
            (dims.categories, transforms.category_schema),
            (dims.customers, transforms.customer_schema),
        )
    ]
    tx = spark.createDataFrame(reference_records(args.csv), schema.spark_schema(mongo=True))
    started = time.monotonic()
    flagged = rules.flag(transforms.enrich(tx, *frames)).toPandas()
    seconds = time.monotonic() - started
    spark.stop()

    fraud = flagged["is_fraud"].astype(bool)
    rate = fraud.mean()
    print(f"{len(flagged):,} reference rows, fraud rate {rate:.2%}; rules evaluated by Spark in {seconds:.1f} s")
    print(f"{'rule':<10} {'flagged':>9} {'share':>7} {'precision':>10} {'recall':>7} {'lift':>6}")
    for name in (*rules.RULES, "any"):
        fired = flagged["flagged" if name == "any" else f"rule_{name}"].astype(bool)
        hits = int((fired & fraud).sum())
        precision = hits / fired.sum() if fired.sum() else 0.0
        print(f"{name:<10} {int(fired.sum()):>9,} {fired.mean():>7.2%} {precision:>10.1%} "
              f"{hits / fraud.sum():>7.1%} {precision / rate:>6.1f}")
    print(f"baseline: random flags at any share have precision {rate:.1%} (lift 1.0)")


if __name__ == "__main__":
    main()
