"""Writers take turns on the hot store: a write waits for the writes ahead of it, not for a lucky moment.

SQLite has one writer at a time, and FerretDB left the queueing to SQLite's busy handler, which polls for
the lock (up to 100 ms between tries). A client writing back to back, as the archive deletes a verified
batch, retakes the lock within microseconds of releasing it, so a poller could miss every gap: a
1,000-document insert of the generator waited 1-4 s beside 2,000-id deletes of 0.13 s each, while 10-30 of
them went by. It was also 10 transactions (FerretDB inserted 100 documents per transaction), each waiting
again. paylake's fair-writes.patch queues each database's writes on a Go mutex, which hands the lock on in
arrival order once a writer has waited, and inserts 1,000 documents per transaction. On MongoDB writes to
different documents do not wait for each other at all.

The test counts, for each insert, the delete commands that completed while it ran. Taking turns, that is a
few: the one running when the insert was sent, one that began while the server decoded it, the one running
when it asked for the lock (at most 3 in bench/write_fairness.py). With FerretDB's own queueing one insert
saw 27 go by, and in this test (then 40 deletes of 1,000 ids) only one insert finished while all 40 ran.
The count only means something while a delete lasts about as long as an insert: on the JSONB storage a
1,000-id delete takes half an insert's ~50 ms, two fitted in the server's decoding and a CI run saw 4; with
2,000 ids the inserts see 1-2.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from factories import make_records

from paylake import indexes, names, schema

CHUNK = 2000  # ids per delete command: on JSONB storage ~45 ms, about an insert's length
INSERT = 1000  # documents per insert_many, the generator's order of size


def _docs(n: int, prefix: str) -> list[dict[str, Any]]:
    return [schema.to_mongo(r) for r in make_records(n, datetime(2026, 1, 1, tzinfo=UTC), prefix=prefix)]


def test_an_insert_waits_for_one_delete_not_for_a_run_of_them(mongo_db) -> None:  # type: ignore[no-untyped-def]
    indexes.ensure(mongo_db, (names.TRANSACTIONS,))
    coll = mongo_db[names.TRANSACTIONS]
    stored = _docs(40_000, "old")
    for i in range(0, len(stored), 5000):
        coll.insert_many(stored[i : i + 5000], ordered=False)
    ids = [d["_id"] for d in stored]
    fresh = _docs(20 * INSERT, "new")
    deletes_done: list[float] = []  # monotonic end of each delete command

    def delete() -> None:
        for i in range(0, len(ids), CHUNK):
            coll.delete_many({"_id": {"$in": ids[i : i + CHUNK]}})
            deletes_done.append(time.monotonic())

    deleter = threading.Thread(target=delete)
    deleter.start()
    spans: list[tuple[float, float]] = []
    while deleter.is_alive() and len(spans) * INSERT < len(fresh):
        began = time.monotonic()
        at = len(spans) * INSERT
        coll.insert_many(fresh[at : at + INSERT], ordered=False)
        spans.append((began, time.monotonic()))
    deleter.join()

    passed_by = [sum(began < done < ended for done in deletes_done) for began, ended in spans]
    assert len(deletes_done) == len(ids) // CHUNK and coll.count_documents({}) == len(spans) * INSERT
    assert len(spans) >= 5, f"only {len(spans)} inserts finished while {len(deletes_done)} deletes ran"
    assert max(passed_by) <= 3, f"delete commands that completed during each insert: {passed_by}"
