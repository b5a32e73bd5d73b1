"""Bulk writes FerretDB can serve: upserts in small chunks, inserts that skip stored ids.

FerretDB v1 keeps one SQLite connection per matched statement of an update command until the command ends
(pool of 100): one bulk of 300 replacements of existing documents stalls the server for every client.
This is what stopped the demo after ten minutes (the KPI job then re-upserted alerts of its lookback window).
"""

from __future__ import annotations

from typing import Any

import pymongo
import pytest
from pymongo import ReplaceOne
from pymongo.database import Database
from pymongo.errors import BulkWriteError

from paylake.kpi import alerts
from paylake.mongo import bulk_write_chunked, insert_new
from paylake.settings import Settings


def test_re_upserting_many_alerts_does_not_stall_the_server(settings: Settings) -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(settings.mongo_uri, socketTimeoutMS=30_000)
    db = client[settings.mongo_db]
    try:
        docs = [{"_id": f"tx{i:05d}", "amount": float(i), "rules": ["velocity"]} for i in range(300)]
        ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
        assert bulk_write_chunked(db.alerts, ops, ordered=False) == list(range(300))  # all new
        assert bulk_write_chunked(db.alerts, ops, ordered=False) == []  # all replaced, and it returns at all
        assert db.alerts.count_documents({}) == 300
        assert db.command("ping")["ok"] == 1.0  # the server still serves other requests
    finally:
        client.drop_database(settings.mongo_db)
        client.close()


def test_insert_new_skips_stored_ids_and_keeps_the_first_copy(mongo_db: Database[Any]) -> None:
    first = [{"_id": f"a{i}", "run": 1} for i in range(5)]
    assert insert_new(mongo_db.alerts, first[:3], chunk=2) == [0, 1, 2]
    again = [{"_id": f"a{i}", "run": 2} for i in range(5)]  # a re-run: three stored, two new
    assert insert_new(mongo_db.alerts, again, chunk=2) == [3, 4]
    assert {d["_id"]: d["run"] for d in mongo_db.alerts.find()} == {"a0": 1, "a1": 1, "a2": 1, "a3": 2, "a4": 2}


def test_insert_new_raises_other_write_errors(mongo_db: Database[Any]) -> None:
    with pytest.raises(BulkWriteError):
        insert_new(mongo_db.alerts, [{"_id": "ok"}, {"_id": ["an", "array"]}])  # an array can't be an _id


def test_alerts_store_returns_only_new_alerts(mongo_db: Database[Any]) -> None:
    docs = [{"_id": f"tx{i}", "amount": 1.0} for i in range(3)]
    assert alerts.store(mongo_db, docs[:2]) == docs[:2]
    assert alerts.store(mongo_db, docs) == docs[2:]
