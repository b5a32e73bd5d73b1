"""Generator benchmark: the server's raw insert limit vs the generator's end-to-end rate, and CTGAN sampling.

    .venv/bin/python bench/generator.py [--count 100000] [--rounds 2] [--customers 20000] [--use-settings]

By default it starts its own MongoDB-compatible server (the same FerretDB/mongod the stack uses) on a free
port in a temp dir, so figures never depend on, or disturb, a running stack; ``--use-settings`` measures
the server named by PAYLAKE_MONGO_URI instead (into a throw-away database). The model is the trained one
at PAYLAKE_MODEL_PATH / <state_dir>/models/ctgan.pkl, or a 1-epoch one fitted on the spot if none exists
(speed does not depend on training quality).

* raw insert limit: insert_many(ordered=False) of pre-built fact documents, 5,000 per batch, into a fresh
  collection with the generator's indexes — the most the server takes;
* generator: ``paylake.generator.stream.run(count=N)`` end to end (sampling, building, validation, insert),
  into another fresh collection with the dimensions already seeded; the rate counts from the first batch
  handed to ingest (like the raw figure, which excludes connecting and creating indexes); the rate of
  the whole call, start-up included, is printed too;
* CTGAN sampling: honest behaviour rows per second of ``sampling.honest`` in 50,000-row calls.
The raw-insert documents are a simulated stream (``simulate.Simulator`` + ``records.to_records``) over the
same population the generator uses (``--customers``, default 20,000: seeding PAYLAKE_CUSTOMERS' 500,000
would take a minute per round and is not what is measured).
Rounds alternate raw/generator so a busy machine hits both alike; the best round of each is reported.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pymongo

from paylake import indexes, names, schema
from paylake.generator import dimensions, model, records, reference, sampling, stream
from paylake.generator.simulate import SimOptions, Simulator
from paylake.settings import Settings, load_settings
from paylake.stack.process import free_port
from paylake.stack.servers import mongo_service

BATCH = 5000


def _model(settings: Settings) -> object:
    if settings.model_file.exists():
        print(f"model: {settings.model_file}")
        return model.load(settings.model_file)
    # Throughput does not depend on how well a model is trained (same networks, same work per row): a
    # 1-epoch model is enough to measure speed when none is trained yet.
    print("model: none trained; fitting a 1-epoch model on 4,000 rows (speed only)…", flush=True)
    frame = model.training_frame(reference.simulate(4_000, seed=42))
    return model.train(frame, epochs=1, seed=0)


def _raw(client: pymongo.MongoClient, db_name: str, docs: list[dict]) -> float:
    db = client[db_name]
    indexes.ensure(db)
    started = time.perf_counter()
    for i in range(0, len(docs), BATCH):
        db[names.TRANSACTIONS].insert_many(docs[i:i + BATCH], ordered=False)
    elapsed = time.perf_counter() - started
    assert db[names.TRANSACTIONS].count_documents({}) == len(docs)
    return len(docs) / elapsed


def _generator(settings: Settings, synth: object, count: int) -> tuple[float, float]:
    """(steady-state rate from the first batch on, rate of the whole call including start-up)."""
    client: pymongo.MongoClient = pymongo.MongoClient(settings.mongo_uri)
    # reseed writes the record a restart trusts, as `paylake dimensions` does: without it every run
    # would compare the whole population (~45 s for 500,000 customers) before its first batch
    dimensions.reseed(client[settings.mongo_db], dimensions.build_dimensions(customers=settings.customers))
    indexes.ensure(client[settings.mongo_db])
    client.close()
    started = time.perf_counter()
    counts = stream.run(settings, count=count, batch_size=BATCH, synthesizer=synth, progress=False, seed=1)
    elapsed = time.perf_counter() - started
    assert counts.inserted == count and counts.adds_up(), counts
    return counts.rate, count / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--customers", type=int, default=20_000, help="population size (PAYLAKE_CUSTOMERS)")
    parser.add_argument("--use-settings", action="store_true", help="measure PAYLAKE_MONGO_URI's server")
    args = parser.parse_args()
    base = load_settings().with_overrides(customers=args.customers)
    service = None
    if args.use_settings:
        settings = base
    else:
        state = Path(tempfile.mkdtemp(prefix="paylake-bench-gen-"))
        settings = base.with_overrides(state_dir=state, mongo_uri=f"mongodb://127.0.0.1:{free_port()}",
                                       model_path=base.model_file)
        service = mongo_service(settings, state / "run")
        print(f"starting a private server: {service.address}", flush=True)
        service.start()
    client: pymongo.MongoClient = pymongo.MongoClient(settings.mongo_uri)
    try:
        synth = _model(settings)
        model.speed_up_sampling(synth)
        sampling.honest(synth, 1000)  # warm-up (imports, first batch)
        sampled = []
        for _ in range(3):
            started = time.perf_counter()
            sampling.honest(synth, 50_000)
            sampled.append(50_000 / (time.perf_counter() - started))
        dims = dimensions.build_dimensions(customers=settings.customers)
        simulator = Simulator(synth, dims, SimOptions(start=time.time(), rate=stream.UNPACED_SIM_RATE),
                              np.random.default_rng(0))
        frame = simulator.chunk(args.count)
        recs = records.to_records(frame.head(args.count), "bench", 0)
        now = datetime.now(UTC)
        for r in recs:
            r.pop("_t")
            r["event_time"] = r["ingest_time"] = now
        docs = [schema.to_mongo(r) for r in recs]
        raw, gen, whole = [], [], []
        for i in range(args.rounds):
            tag = f"bench_gen_{int(time.time())}_{i}"
            raw.append(_raw(client, f"{tag}_raw", [dict(d) for d in docs]))
            steady, full = _generator(settings.with_overrides(mongo_db=f"{tag}_gen"), synth, args.count)
            gen.append(steady)
            whole.append(full)
            print(f"round {i + 1}: raw insert {raw[-1]:,.0f} tx/s   generator {gen[-1]:,.0f} tx/s "
                  f"({full:,.0f} tx/s including start-up)   ratio {gen[-1] / raw[-1]:.0%}", flush=True)
            for name in (f"{tag}_raw", f"{tag}_gen"):
                client.drop_database(name)
        best_raw, best_gen = max(raw), max(gen)
        server = service.address if service else stream.where(settings)
        print(f"\nserver: {server}  ({args.count:,} docs per run, best of {args.rounds} rounds)")
        print(f"raw insert limit (insert_many of pre-built docs): {best_raw:>10,.0f} tx/s")
        print(f"generator end to end (paylake generate):          {best_gen:>10,.0f} tx/s  "
              f"({max(whole):,.0f} including start-up: model load excluded, dimensions check, first sample)")
        print(f"ratio generator / raw:                            {best_gen / best_raw:>10.0%}  (target ≥ 80%)")
        print(f"CTGAN sampling (sampling.honest, 50k rows/call):  {statistics.median(sampled):>10,.0f} rows/s")
        return 0
    finally:
        client.close()
        if service is not None:
            service.stop()


if __name__ == "__main__":
    sys.exit(main())
