"""Reads of new hot data by ingest time are served by the index, and lose nothing.

On MongoDB the ``ingest_time`` index serves the KPI job's ``$match``. FerretDB v1 pushes only ``_id``
equality down to SQLite; paylake builds it with ``paylake/stack/ferretdb/range-pushdown.patch``, which
pushes date lower bounds down to the field's index, and ``range-upper-bound.patch``, which adds upper bounds
(keeping every TEXT value: an array may hold an early date). The patches must select a superset of the matching
documents (FerretDB still applies the whole filter), so these tests compare every answer with the filter
evaluated here, over documents that a careless SQL translation would drop or keep wrongly.
"""

from __future__ import annotations

import logging
import operator
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from bson import json_util
from pymongo import MongoClient
from pymongo.database import Database

from paylake import indexes, names
from paylake.kpi.reads import hot_pipeline
from paylake.settings import load_settings
from paylake.stack.process import free_port
from paylake.stack.servers import mongo_service

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
ODD_VALUES: dict[str, Any] = {  # ingest_time values other than one ordinary date
    "array_early_and_late": [T0 - timedelta(days=30), T0 + timedelta(days=30)],
    "array_early": [T0 - timedelta(days=30)],
    "string": "2099-01-01T00:00:00Z",
    "null": None,
    "number": 9e15,
    "bool": True,
    "document": {"at": T0 + timedelta(days=1)},
    "year_2300": datetime(2300, 1, 1, tzinfo=UTC),
    "year_1960": datetime(1960, 1, 1, tzinfo=UTC),
}


OPS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _matches(value: Any, bounds: dict[str, datetime]) -> bool:
    """MongoDB's answer for {field: bounds} with date bounds: a date only compares with dates, and an array
    matches when each bound holds for some element."""
    if isinstance(value, list):
        return all(any(_matches(v, {op: b}) for v in value) for op, b in bounds.items())
    return isinstance(value, datetime) and all(OPS[op](value, b) for op, b in bounds.items())


@pytest.fixture
def ranged(mongo_db: Database[Any]) -> Database[Any]:
    indexes.ensure(mongo_db)  # the KPI job's indexes, ingest_time among them
    docs: list[dict[str, Any]] = [
        {"_id": f"t{i:03d}", "ingest_time": T0 + timedelta(seconds=i - 50)} for i in range(100)
    ]
    docs += [{"_id": key, "ingest_time": value} for key, value in ODD_VALUES.items()]
    docs.append({"_id": "missing"})
    mongo_db[names.TRANSACTIONS].insert_many(docs)
    return mongo_db


BOUNDS = [
    {"$gt": T0},
    {"$gte": T0},
    {"$gt": T0, "$lte": T0 + timedelta(seconds=10)},
    {"$gte": T0 - timedelta(days=365 * 80)},  # below every positive date
    {"$gt": T0 + timedelta(days=365 * 100)},  # only year 2300 and the number-free values remain
    {"$lt": T0},  # upper bounds: the arrays holding an early date must be kept
    {"$lte": T0},
    {"$gte": T0 - timedelta(seconds=10), "$lt": T0 + timedelta(seconds=10)},  # the archive's batch read
    {"$gt": T0 - timedelta(days=60), "$lt": T0 - timedelta(days=1)},  # only the arrays' early date matches
    {"$lt": datetime(1970, 1, 1, tzinfo=UTC)},  # negative milliseconds: year 1960 only
]


@pytest.mark.parametrize("bounds", BOUNDS, ids=lambda b: ",".join(b))
def test_a_date_range_returns_exactly_what_mongodb_would(ranged: Database[Any], bounds: dict[str, Any]) -> None:
    stored = {d["_id"]: d.get("ingest_time") for d in ranged[names.TRANSACTIONS].find()}
    expected = {key for key, value in stored.items() if _matches(_utc(value), bounds)}
    assert expected, "the case must select something"

    found = {d["_id"] for d in ranged[names.TRANSACTIONS].find({"ingest_time": bounds}, {"_id": 1})}
    aggregated = {d["_id"] for d in ranged[names.TRANSACTIONS].aggregate([{"$match": {"ingest_time": bounds}}])}
    assert found == expected
    assert aggregated == expected


def test_the_kpi_read_of_new_data_is_served_by_the_ingest_time_index(ranged: Database[Any]) -> None:
    pipeline = json_util.loads(hot_pipeline(T0, T0 + timedelta(minutes=1)) or "[]")  # what the job reads
    plan = ranged.command("explain", {"aggregate": names.TRANSACTIONS, "pipeline": pipeline, "cursor": {}})
    text = str(plan.get("queryPlanner") or plan.get("stages") or plan)
    # FerretDB shows SQLite's plan; MongoDB names the index scan stage.
    assert ("USING INDEX" in text and "ingest_time" in text) or "IXSCAN" in text, text


def test_a_date_range_with_both_bounds_is_served_by_the_index(ranged: Database[Any]) -> None:
    """The archive reads one event-time range per run, between two dates."""
    query = {"ingest_time": {"$gte": T0 - timedelta(seconds=10), "$lt": T0 + timedelta(seconds=10)}}
    plan = ranged.command("explain", {"find": names.TRANSACTIONS, "filter": query})
    text = str(plan.get("queryPlanner") or plan)
    assert ("USING INDEX" in text and "ingest_time" in text) or "IXSCAN" in text, text


def _utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, list):
        return [_utc(v) for v in value]
    return value


def test_an_index_from_an_unpatched_build_is_recreated(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """Upgrading: a data directory whose index an unpatched FerretDB made, opened by the patched build."""
    settings = load_settings({}).with_overrides(
        state_dir=tmp_path, mongo_uri=f"mongodb://127.0.0.1:{free_port()}", mongo_db="upgrade"
    )
    server = mongo_service(settings, tmp_path / "run")  # its own server: the index is swapped while it is down
    server.start()
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongo_uri, tz_aware=True)
    transactions = client[settings.mongo_db][names.TRANSACTIONS]
    try:
        indexes.ensure(client[settings.mongo_db])
        served = indexes.range_uses_index(transactions, "ingest_time")
        if served is None:  # a real mongod: its planner chooses; nothing to repair
            return
        assert served is True
        server.stop()
        _put_back_json_text_index(tmp_path / "mongo" / "upgrade.sqlite", "ingest_time")
        server.start()
        assert indexes.range_uses_index(transactions, "ingest_time") is False

        with caplog.at_level(logging.WARNING, logger="paylake.indexes"):
            indexes.ensure(client[settings.mongo_db])
        assert indexes.range_uses_index(transactions, "ingest_time") is True
        assert "recreating it" in caplog.text and "lacks paylake's range patch" not in caplog.text
    finally:
        client.close()
        server.stop()


def _put_back_json_text_index(path: Path, field: str) -> None:
    """Replace the field's index by the one an unpatched FerretDB creates (on JSON text, ``->``)."""
    with sqlite3.connect(path) as sql:
        name, table = sql.execute(
            "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name LIKE ?", (f"%{field}_1",)
        ).fetchone()
        sql.execute(f'DROP INDEX "{name}"')
        sql.execute(f'CREATE INDEX "{name}" ON "{table}" (_ferretdb_sjson->"{field}")')


def test_recreating_an_index_another_process_already_dropped_still_works(ranged: Database[Any]) -> None:
    transactions = ranged[names.TRANSACTIONS]
    transactions.drop_index("ingest_time_1")  # what the generator does while the KPI job upgrades it too
    indexes._recreate(transactions, "ingest_time")
    assert "ingest_time_1" in transactions.index_information()
    assert indexes.range_uses_index(transactions, "ingest_time") in (True, None)  # None: a real mongod


def test_a_sound_index_survives_the_servers_statistics(mongo_db: Database[Any], caplog) -> None:  # type: ignore[no-untyped-def]
    """collStats makes FerretDB run ANALYZE (the archive's size check calls it); the index check must then
    still see the index serving a selective range, not rebuild it on every KPI run."""
    now = datetime.now(UTC)
    mongo_db[names.TRANSACTIONS].insert_many(
        [{"_id": f"s{i:05d}", "event_time": now + timedelta(seconds=i), "ingest_time": now} for i in range(5000)]
    )
    indexes.ensure(mongo_db)
    mongo_db.command("collStats", names.TRANSACTIONS)
    with caplog.at_level(logging.WARNING, logger="paylake.indexes"):
        indexes.ensure(mongo_db)
    assert "recreating" not in caplog.text
    assert indexes.range_uses_index(mongo_db[names.TRANSACTIONS], "event_time") in (True, None)  # None: mongod
