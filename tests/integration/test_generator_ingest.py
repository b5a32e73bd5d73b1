"""Generator → real MongoDB-compatible server: counts add up under bad records and a server restart;
re-inserting the same ids adds nothing; dimensions are idempotent and facts reference them."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from factories import make_records
from generator_support import ReplaySynthesizer

from paylake import names
from paylake.generator import dimensions, stream
from paylake.generator.ingest import Counts, Ingestor
from paylake.settings import Settings
from paylake.stack import manager

# A small population: the default (PAYLAKE_CUSTOMERS, 500,000) would take a minute to seed per test database.
CUSTOMERS = 5000


def _small(settings: Settings, **overrides: Any) -> Settings:
    return settings.with_overrides(customers=CUSTOMERS, **overrides)


def _check_accounting(counts: Counts, db: Any) -> None:
    assert counts.adds_up(), counts
    assert db[names.TRANSACTIONS].count_documents({}) == counts.inserted
    assert db[names.DEAD_LETTER].count_documents({}) == counts.dead_lettered


def test_bad_records_go_to_dead_letter_and_counts_add_up(settings: Settings, mongo_db: Any) -> None:
    counts = stream.run(_small(settings), count=6000, bad_rate=0.05, batch_size=1000, seed=1,
                        synthesizer=ReplaySynthesizer(), progress=False)
    assert counts.generated == 6000 and counts.failed == 0 and counts.duplicate == 0
    assert 150 < counts.dead_lettered < 450  # ~5% of 6000
    _check_accounting(counts, mongo_db)
    letter = mongo_db[names.DEAD_LETTER].find_one({})
    assert letter["source"] == "generator" and letter["reasons"] and isinstance(letter["received_at"], datetime)
    assert isinstance(letter["record"], dict)
    indexes = {tuple(i["key"].keys()) for i in mongo_db[names.TRANSACTIONS].list_indexes()}
    assert {("event_time",), ("ingest_time",)} <= indexes
    # every fact references the dimensions
    merchants = {m["_id"] for m in mongo_db[names.MERCHANTS].find({}, {"_id": 1})}
    customers = {c["_id"] for c in mongo_db[names.CUSTOMERS].find({}, {"_id": 1})}
    facts = list(mongo_db[names.TRANSACTIONS].find({}, {"merchant_id": 1, "customer_id": 1, "ingest_time": 1}))
    assert {f["merchant_id"] for f in facts} <= merchants and {f["customer_id"] for f in facts} <= customers
    assert all(f["ingest_time"].tzinfo is not None for f in facts)


def test_the_seed_also_decides_the_bad_records(settings: Settings, mongo_db: Any) -> None:
    def reasons_of_a_run(database: str) -> list[str]:
        stream.run(_small(settings, mongo_db=database), count=3000, bad_rate=0.05, batch_size=1000,
                   seed=4, synthesizer=ReplaySynthesizer(), progress=False)
        letters = mongo_db.client[database][names.DEAD_LETTER].find({}, {"reasons": 1})
        return sorted(r for letter in letters for r in letter["reasons"])

    first = reasons_of_a_run(mongo_db.name)
    second = reasons_of_a_run(f"{mongo_db.name}_again")
    mongo_db.client.drop_database(f"{mongo_db.name}_again")
    assert first and first == second


def test_server_restart_mid_run_loses_nothing(stack_settings: Settings, settings: Settings, mongo_db: Any) -> None:
    mongo = next(s for s in manager.services(stack_settings) if s.name == "mongo")
    restarted = threading.Event()

    def restart() -> None:
        deadline = time.monotonic() + 60
        # Stop early in a long run, so even a slow, loaded machine is still generating when the server goes.
        while mongo_db[names.TRANSACTIONS].estimated_document_count() < 1000 and time.monotonic() < deadline:
            time.sleep(0.1)
        mongo.stop()
        time.sleep(4.0)  # longer than the client's 3 s server selection: the generator must back off and retry
        mongo.start()
        restarted.set()

    helper = threading.Thread(target=restart, daemon=True)
    helper.start()
    messages: list[str] = []
    try:
        counts = stream.run(_small(settings), count=30_000, rate=4000, bad_rate=0.02, batch_size=1000, seed=2,
                            synthesizer=ReplaySynthesizer(), progress=False, echo=messages.append)
    finally:
        helper.join(timeout=90)
        if not mongo.is_healthy():  # leave the shared server healthy for the other tests
            mongo.start()
    assert restarted.is_set(), "the server was not restarted during the run"
    assert any("unreachable" in m for m in messages), messages  # the run did see the outage
    assert counts.generated == 30_000 and counts.failed == 0 and counts.duplicate == 0
    _check_accounting(counts, mongo_db)


def test_reinserting_the_same_ids_counts_duplicates(mongo_db: Any) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    ingestor = Ingestor(mongo_db)
    ingestor.ingest(make_records(500, start, prefix="dup"))
    assert ingestor.counts.inserted == 500
    ingestor.ingest(make_records(500, start, prefix="dup") + make_records(10, start, prefix="new"))
    assert ingestor.counts.duplicate == 500 and ingestor.counts.inserted == 510
    assert ingestor.counts.adds_up()
    assert mongo_db[names.TRANSACTIONS].count_documents({}) == 510


def test_dimensions_are_idempotent(mongo_db: Any) -> None:
    dims = dimensions.build_dimensions(customers=2000)
    first = dimensions.seed_dimensions(mongo_db, dims)
    second = dimensions.seed_dimensions(mongo_db, dims)
    assert first == second == {names.CATEGORIES: len(dimensions.CATEGORIES),
                               names.MERCHANTS: dimensions.N_MERCHANTS, names.CUSTOMERS: 2000}
    merchant = mongo_db[names.MERCHANTS].find_one({"_id": "M00000"})
    assert set(merchant) == {"_id", "name", "category", "city", "country", "latitude", "longitude", "commission_rate"}
    assert merchant["category"] in {c.key for c in dimensions.CATEGORIES}
    category = mongo_db[names.CATEGORIES].find_one({"_id": "grocery"})
    assert set(category) == {"_id", "name", "description", "commission_rate", "median_amount"}
    customer = mongo_db[names.CUSTOMERS].find_one({"_id": "C0000000"})
    assert customer == dims.customers[0]
    assert set(customer) == {"_id", "home_city", "home_country", "home_latitude", "home_longitude",
                             "typical_amount", "spend_index", "segment"}
    # a larger population keeps the first customers as they are and adds the rest
    bigger = dimensions.seed_dimensions(mongo_db, dimensions.build_dimensions(customers=3000))
    assert bigger[names.CUSTOMERS] == 3000
    assert mongo_db[names.CUSTOMERS].find_one({"_id": "C0001999"}) == dims.customers[-1]


@pytest.mark.parametrize("speedup", [3600.0])
def test_simulated_clock_for_backfill(settings: Settings, mongo_db: Any, speedup: float) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    counts = stream.run(_small(settings), count=2000, rate=1000, start=start, speedup=speedup, seed=3,
                        synthesizer=ReplaySynthesizer(), progress=False)
    assert counts.inserted == 2000
    docs = sorted(mongo_db[names.TRANSACTIONS].find({}, {"event_time": 1}), key=lambda d: d["_id"])
    times = [d["event_time"] for d in docs]
    span_h = (max(times) - min(times)).total_seconds() / 3600
    # 2,000 records at 1,000 a second, 3600× faster: 2,000 payments at 1,000/3,600 a simulated second
    assert min(times) >= start and 1.5 < span_h < 2.5
    assert times == sorted(times)  # each record carries its own simulated time, in the order simulated


def test_ensure_dimensions_seeds_what_is_missing_and_returns_what_is_stored(mongo_db: Any) -> None:
    first = dimensions.ensure_dimensions(mongo_db, 2000)  # an empty database: seeded, then read back
    assert len(first.customers) == 2000
    assert len(first.merchants) == mongo_db[names.MERCHANTS].count_documents({}) > 0
    gone = first.merchants[0]["_id"]
    mongo_db[names.MERCHANTS].delete_one({"_id": gone})
    again = dimensions.ensure_dimensions(mongo_db, 2000)
    assert gone in {m["_id"] for m in again.merchants}
    assert (len(again.categories), len(again.customers)) == (len(first.categories), len(first.customers))


def test_a_seeded_population_is_trusted_after_a_spot_check(mongo_db: Any) -> None:
    seeded = dimensions.build_dimensions(customers=3000)
    dimensions.reseed(mongo_db, seeded)  # what `paylake dimensions --repair` does
    assert mongo_db[names.DIMENSIONS_STATE].find_one({"_id": "seeded"})["customers"] == 3000
    # a smaller ask keeps the larger seeded population, rebuilt from the record (no read-back)
    assert dimensions.ensure_dimensions(mongo_db, 1000).customers == seeded.customers
    # a dimension shrunk behind paylake's back fails the spot check (first and last ids) and is seeded again
    mongo_db[names.CUSTOMERS].delete_one({"_id": seeded.customers[-1]["_id"]})
    dimensions.ensure_dimensions(mongo_db, 3000)
    assert mongo_db[names.CUSTOMERS].find_one({"_id": seeded.customers[-1]["_id"]}) == seeded.customers[-1]


def test_sigterm_stops_cleanly_and_prints_the_counts(settings: Settings, mongo_db: Any) -> None:
    """`make down` stops the demo's generator with SIGTERM: the batch in hand is stored, the counts printed."""
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from paylake.generator import model, reference
    from paylake.settings import settings_env

    small = _small(settings)
    model.save(model.train(model.training_frame(reference.simulate(600, seed=3)), epochs=1, seed=0), small.model_file)
    paylake = str(Path(sys.executable).parent / "paylake")
    proc = subprocess.Popen([paylake, "generate", "--rate", "200"], env={**os.environ, **settings_env(small)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while mongo_db[names.TRANSACTIONS].count_documents({}) == 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "adds up" in out and "stopping" in err
    inserted = int(out.split("inserted ")[1].split()[0].replace(",", ""))
    assert inserted == mongo_db[names.TRANSACTIONS].count_documents({}) > 0
