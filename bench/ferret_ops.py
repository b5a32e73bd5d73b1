"""FerretDB per-document bench: FerretDB's CPU seconds per 100,000 documents for the operations paylake runs
most, for two builds of paylake-ferretdb side by side (patched vs a baseline binary), interleaved.

Starts one private FerretDB per build (no other server), each on a free port in a temp dir, and runs
``--rounds`` rounds; in each, every operation runs on each build in turn (the order of the builds alternates
round by round), on documents of bench/archive.py's shape (17 fields, ~1.4 KB):

- insert: ``insert_many`` of 5,000-document batches into a collection with paylake's date indexes;
- range find: whole documents by an ``event_time`` range (indexed) matching 80 % of them;
- projected find: ``find({}, {_id: 0, event_time: 1, ingest_time: 1})`` (the archive's former histogram);
- delete by ids: ``delete_many({_id: {$in: [20,000 ids]}})`` until the collection is empty (the archive's).

Prints FerretDB's CPU seconds (from /proc) per 100,000 documents of each operation and build, every round
and their median, and the baseline's median over the patched one's. ``--profile-dir`` has each server write a
CPU profile of its whole run there (PAYLAKE_FERRETDB_CPUPROFILE, see paylake/stack/ferretdb/main.go):

    .venv/bin/python bench/ferret_ops.py --baseline-bin /tmp/ferret-base [--docs 100000 --rounds 3]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from archive import T0, records
from procs import process_cpu_s
from pymongo import MongoClient
from pymongo.collection import Collection

from paylake import indexes, names, schema
from paylake.stack.process import free_port

ROOT = Path(__file__).resolve().parent.parent
HOURS = 48
PROJECTION = {"_id": 0, "event_time": 1, "ingest_time": 1}  # the archive's former histogram read
BATCH, DELETE_CHUNK = 5000, 20_000


def start(binary: str, data_dir: Path, profile: Path | None) -> tuple[subprocess.Popen[bytes], str]:
    data_dir.mkdir(parents=True)
    port = free_port()
    env = dict(os.environ)
    env.pop("PAYLAKE_FERRETDB_CPUPROFILE", None)
    if profile is not None:
        env["PAYLAKE_FERRETDB_CPUPROFILE"] = str(profile)
    proc = subprocess.Popen([binary, "-listen", f"127.0.0.1:{port}", "-dir", str(data_dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    uri = f"mongodb://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            MongoClient(uri, serverSelectionTimeoutMS=500).admin.command("ping")
            return proc, uri
        except Exception:  # noqa: BLE001 - not answering yet
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise
            time.sleep(0.2)


def insert(coll: Collection[Any], docs: list[dict[str, Any]], ids: list[str]) -> int:
    for i in range(0, len(docs), BATCH):
        coll.insert_many([dict(d) for d in docs[i : i + BATCH]], ordered=True)
    return len(docs)


def range_find(coll: Collection[Any], docs: list[dict[str, Any]], ids: list[str]) -> int:
    lo, hi = T0 + timedelta(hours=HOURS * 0.1), T0 + timedelta(hours=HOURS * 0.9)
    return sum(1 for _ in coll.find({"event_time": {"$gte": lo, "$lt": hi}}, batch_size=10_000))


def projected_find(coll: Collection[Any], docs: list[dict[str, Any]], ids: list[str]) -> int:
    return sum(1 for _ in coll.find({}, PROJECTION, batch_size=10_000))


def delete_by_ids(coll: Collection[Any], docs: list[dict[str, Any]], ids: list[str]) -> int:
    return sum(coll.delete_many({"_id": {"$in": ids[i : i + DELETE_CHUNK]}}).deleted_count
               for i in range(0, len(ids), DELETE_CHUNK))


OPS: dict[str, Callable[[Collection[Any], list[dict[str, Any]], list[str]], int]] = {
    "insert": insert, "range find": range_find, "projected find": projected_find, "delete by ids": delete_by_ids,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bin", default=str(ROOT / "build/bin/paylake-ferretdb"), help="the patched build")
    parser.add_argument("--baseline-bin", required=True, help="a paylake-ferretdb built without the patch tested")
    parser.add_argument("--profile-dir", type=Path, help="write each server's CPU profile there")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="paylake-bench-ferret-ops-"))
    if args.profile_dir:
        args.profile_dir.mkdir(parents=True, exist_ok=True)
    builds = {"patched": args.bin, "baseline": args.baseline_bin}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    clients: dict[str, MongoClient[Any]] = {}
    try:
        for name, binary in builds.items():
            profile = args.profile_dir / f"{name}.pprof" if args.profile_dir else None
            procs[name], uri = start(binary, state / name, profile)
            clients[name] = MongoClient(uri, tz_aware=True)
        docs = [schema.to_mongo(r) for r in records(args.docs, HOURS, random.Random(7))]
        ids = [d["_id"] for d in docs]
        results: dict[tuple[str, str], list[float]] = {}
        for round_no in range(args.rounds):
            order = list(builds) if round_no % 2 == 0 else list(reversed(builds))
            for name in builds:
                db = clients[name]["bench"]
                db.drop_collection(names.TRANSACTIONS)
                indexes.ensure(db, (names.TRANSACTIONS,))
            for op, func in OPS.items():
                for name in order:
                    coll = clients[name]["bench"][names.TRANSACTIONS]
                    coll.find_one({}, {"_id": 1})  # connected, outside the measured window
                    cpu0 = process_cpu_s(procs[name].pid)
                    n = func(coll, docs, ids)
                    cpu = process_cpu_s(procs[name].pid) - cpu0
                    assert n > 0, (op, name)
                    results.setdefault((op, name), []).append(cpu * 100_000 / n)
        print(f"FerretDB ops bench: {args.docs} transactions (17 fields), {args.rounds} interleaved rounds; "
              "FerretDB CPU seconds (/proc) per 100,000 documents")
        median: Callable[[list[float]], float] = statistics.median
        for op in OPS:
            line = []
            for name in builds:
                runs = results[(op, name)]
                line.append(f"{name} {median(runs):5.2f} ({', '.join(f'{c:.2f}' for c in runs)})")
            base, patched = median(results[(op, "baseline")]), median(results[(op, "patched")])
            line.append(f"baseline/patched {base / patched:.2f}x")
            print(f"  {op:<15} " + "; ".join(line))
    finally:
        for client in clients.values():
            client.close()
        for proc in procs.values():
            proc.terminate()
            proc.wait(timeout=60)


if __name__ == "__main__":
    main()
