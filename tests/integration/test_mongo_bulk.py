"""Bulk upserts stay in chunks FerretDB can serve.

FerretDB v1 keeps one SQLite connection per matched statement of an update command until the command ends
(pool of 100): one bulk of 300 replacements of existing documents stalls the server for every client.
This is what stopped the demo after ten minutes (the KPI job re-upserts alerts of its lookback window).
"""

from __future__ import annotations

from typing import Any

import pymongo

from paylake.kpi import alerts
from paylake.settings import Settings


def test_re_upserting_many_alerts_does_not_stall_the_server(settings: Settings) -> None:
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(settings.mongo_uri, socketTimeoutMS=30_000)
    db = client[settings.mongo_db]
    try:
        docs = [{"_id": f"tx{i:05d}", "amount": float(i), "rules": ["velocity"]} for i in range(300)]
        assert [d["_id"] for d in alerts.store(db, docs)] == [d["_id"] for d in docs]  # all new
        assert alerts.store(db, docs) == []  # a re-run repeats none, and returns at all
        assert db.alerts.count_documents({}) == 300
        assert db.command("ping")["ok"] == 1.0  # the server still serves other requests
    finally:
        client.drop_database(settings.mongo_db)
        client.close()
