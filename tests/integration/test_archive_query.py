"""`paylake query` answers over hot ∪ cold with exact totals, also while a batch is in flight."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from archive_support import load

from paylake import faults
from paylake.archive import query
from paylake.archive.job import run_archive
from paylake.cli import main

pytestmark = pytest.mark.integration
TOTALS = "SELECT count(*) AS n, count(DISTINCT transaction_id) AS ids, sum(amount) AS amount, sum(CAST(is_fraud AS INT)) AS fraud FROM transactions"  # noqa: E501


def truth(records):  # type: ignore[no-untyped-def]
    return (len(records), len(records), sum(r["amount"] for r in records), sum(1 for r in records if r["is_fraud"]))


def test_query_totals_are_exact_before_during_and_after_archiving(  # type: ignore[no-untyped-def]
    settings, mongo_db, spark, monkeypatch, capsys, paylake_env
) -> None:
    small = settings.with_overrides(hot_max_mb=1.0)
    records = load(mongo_db)
    expected = truth(records)
    assert query.run_duckdb(small, TOTALS)[1] == [expected]  # hot only, no archive yet

    # A crash mid-delete: the batch is published in cold and half of it is still hot.
    monkeypatch.setenv(faults.FAULT_ENV, "delete")
    with pytest.raises(faults.InjectedFault):
        run_archive(small)
    monkeypatch.delenv(faults.FAULT_ENV)
    assert query.run_duckdb(small, TOTALS)[1] == [expected]
    columns, rows = query.run_spark(spark, small, TOTALS)
    assert [tuple(r) for r in rows] == [expected]

    run_archive(small)
    assert query.run_duckdb(small, TOTALS)[1] == [expected]
    archived = query.run_duckdb(small, "SELECT count(*) FROM archive")[1][0][0]
    assert 0 < archived < len(records)

    # Partition pruning by date on both sides, and SQL over the date partition column.
    day2 = [r for r in records if r["event_time"].date() == date(2026, 1, 2)]
    pruned = query.run_duckdb(small, TOTALS, date_from=date(2026, 1, 2), date_to=date(2026, 1, 2))[1]
    assert pruned == [truth(day2)]
    daily = query.run_duckdb(small, "SELECT date, count(*) FROM transactions GROUP BY date ORDER BY date")[1]
    assert [(str(d), n) for d, n in daily] == [("2026-01-01", 720), ("2026-01-02", 480)]

    # The CLI: CSV and JSON output.
    daily_sql = "SELECT date, count(*) AS n FROM transactions GROUP BY date ORDER BY date"
    assert main(["query", daily_sql, "--format", "csv"]) == 0
    out = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert out == [["date", "n"], ["2026-01-01", "720"], ["2026-01-02", "480"]]
    assert main(["query", "SELECT count(*) AS n FROM archive", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"n": archived}]
    assert main(["query", "SELECT nope FROM transactions"]) == 1
