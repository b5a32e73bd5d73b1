"""KPI all-time totals stay exact across archiving: Redis equals hot + cold ground truth."""

from __future__ import annotations

from datetime import timedelta

import pytest
from archive_support import T0, assert_exactly_once, cold_rows, load
from kpi_truth import seed_dimensions

from paylake.archive import query
from paylake.archive.job import run_archive
from paylake.kpi import snapshot
from paylake.kpi.job import run_refresh

pytestmark = pytest.mark.integration


def test_generate_refresh_archive_more_refresh_keeps_all_time_totals(  # type: ignore[no-untyped-def]
    settings, mongo_db, redis_client, spark
) -> None:
    small = settings.with_overrides(hot_max_mb=1.0)
    seed_dimensions(mongo_db)
    first = load(mongo_db, set_watermark=False)  # 40 hours; the KPI job sets its own watermark
    run_refresh(spark, small)
    result = run_archive(small)
    assert result.batches and cold_rows(small)

    more = load(mongo_db, count=300, prefix="more", start=T0 + timedelta(hours=41), set_watermark=False)
    run_refresh(spark, small)

    everything = first + more
    assert_exactly_once(small, mongo_db, [r["transaction_id"] for r in everything])
    snap = snapshot.read(redis_client)
    assert snap is not None
    headline = snap.headlines["all"]
    assert headline.count == len(everything)
    assert headline.amount == pytest.approx(sum(r["amount"] for r in everything))
    assert headline.fraud_count == sum(1 for r in everything if r["is_fraud"])
    # The same totals from SQL over hot ∪ cold.
    sql = "SELECT count(*), sum(amount) FROM transactions"
    ((count, amount),) = query.run_duckdb(small, sql)[1]
    assert count == headline.count and amount == pytest.approx(headline.amount)
