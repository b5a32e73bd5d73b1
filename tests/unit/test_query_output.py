"""`paylake query` output keeps numbers exact: csv/json in full, the table to 6 decimals."""

import json

import pytest

from paylake.archive.commands import print_rows

ROWS = [(37370, 4790354.26, 0.015283018867924528, None)]
COLUMNS = ["n", "amount", "fraud_rate", "missing"]


def test_csv_and_json_are_exact(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows(COLUMNS, ROWS, "csv")
    assert capsys.readouterr().out.splitlines() == ["n,amount,fraud_rate,missing",
                                                    "37370,4790354.26,0.015283018867924528,"]
    print_rows(COLUMNS, ROWS, "json")
    assert json.loads(capsys.readouterr().out) == [dict(zip(COLUMNS, ROWS[0], strict=True))]


def test_table_rounds_to_six_decimals_not_six_digits(capsys: pytest.CaptureFixture[str]) -> None:
    print_rows(COLUMNS, ROWS, "table")
    lines = capsys.readouterr().out.splitlines()
    assert lines[2].split() == ["37370", "4790354.26", "0.015283"] and lines[-1] == "(1 row)"


def test_bad_sql_fails_before_reading_any_store() -> None:
    import duckdb

    from paylake.archive.query import run_duckdb
    from paylake.settings import Settings

    nowhere = Settings().with_overrides(mongo_uri="mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100")
    with pytest.raises(duckdb.ParserException, match="SELEC"):
        run_duckdb(nowhere, "SELEC count(*) FROM transactions")
