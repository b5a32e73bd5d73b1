"""The lookback rows a refresh hands Spark (``lookback.needed``) flag the new rows exactly as the whole lookback
does: on a dense random stream where velocity and travel fire often, with ties in time and rows of no customer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa

from paylake import schema
from paylake.arrow_rows import to_table
from paylake.kpi import rules
from paylake.kpi.lookback import needed
from paylake.kpi.reads import spark_rows

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CITIES = [(40.7, -74.0), (51.5, -0.1), (35.7, 139.7), (40.8, -73.9)]  # the last one is next door to the first


def _stream(rng: np.random.Generator, n: int, start_s: int, span_s: int, prefix: str) -> list[dict[str, Any]]:
    docs = []
    for i in range(n):
        lat, lon = CITIES[rng.integers(len(CITIES))]
        customer = None if rng.random() < 0.01 else f"C{rng.integers(40):02d}"
        # Whole seconds: many rows of a customer share an instant, so ties are ordered by _id.
        docs.append({"_id": f"{prefix}{i:05d}", "customer_id": customer, "amount": 10.0,
                     "event_time": T0 + timedelta(seconds=start_s + int(rng.integers(span_s))),
                     "ingest_time": T0 + timedelta(minutes=90), "latitude": lat, "longitude": lon})
    return docs


def _flags(spark, table: pa.Table, new_ids: set[str]) -> set[tuple[str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    flagged = rules.flag(spark_rows(spark, table).withColumn("expected_amount", F.lit(10.0)))
    return {(r["_id"], tuple(r["rules"])) for r in flagged.select("_id", "rules").collect() if r["_id"] in new_ids}


def test_the_needed_lookback_flags_new_rows_as_the_whole_lookback_does(spark) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    kind = schema.spark_schema(mongo=True)
    # 60 minutes of lookback, then new rows over 10 minutes, some of them late (event times in the lookback's).
    context = to_table(_stream(rng, 3000, 0, 3600, "old"), kind)
    new = to_table(_stream(rng, 400, 3600, 600, "new") + _stream(rng, 5, 1800, 600, "late"), kind)
    trimmed = needed(new, context, rules.DEFAULT_RULES.velocity_window_min)
    assert trimmed.num_rows < context.num_rows / 2, "the test's lookback is mostly out of every window"

    new_ids = set(new["_id"].to_pylist())
    whole = _flags(spark, pa.concat_tables([context, new]), new_ids)
    assert _flags(spark, pa.concat_tables([trimmed, new]), new_ids) == whole
    fired = {rule for _, fired in whole for rule in fired}
    assert {"velocity", "travel"} <= fired, fired
