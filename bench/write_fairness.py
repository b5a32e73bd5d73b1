"""Write fairness on FerretDB/SQLite: how long the generator's inserts wait while the archive deletes.

    .venv/bin/python bench/write_fairness.py [--chunks 20000,2000] [--docs 200000] [--baseline-bin B]

Starts a private FerretDB (this checkout's build/bin/paylake-ferretdb; with --baseline-bin, also B) per
variant, in a temp dir. On each: --docs documents of bench/archive.py's shape are stored, then a process of
its own deletes them all by `_id` in commands of --chunks ids each, back to back (the archive's delete,
``archive.batch.DELETE_CHUNK``), while this one inserts 1,000-document batches (the generator's) as fast as
it can. Prints, per variant, the inserts' latency (median, p95, max), the most delete commands that
completed while one insert ran (1-2 when writers take turns), and the delete's rate. SQLite has one writer
at a time; what this measures is who waits, and how long. To compare with FerretDB's own queueing, build
without fair-writes.patch and pass that binary as --baseline-bin.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from multiprocessing import Process, Queue
from pathlib import Path
from typing import Any

from archive import records
from ferret_ops import start
from pymongo import MongoClient
from pymongo.collection import Collection

from paylake import indexes, names, schema

ROOT = Path(__file__).resolve().parent.parent
BATCH = 1000


def docs(n: int, prefix: str) -> list[dict[str, object]]:
    rows = records(n, 48, random.Random(7))
    return [schema.to_mongo(r) | {"_id": f"{prefix}{i:08d}"} for i, r in enumerate(rows)]


def _delete(uri: str, ids: list[object], chunk: int, out: Queue) -> None:
    """The archive's delete, in a process of its own (as the archive is): ends of each command, monotonic."""
    coll: Collection[dict[str, Any]] = MongoClient(uri)["bench"][names.TRANSACTIONS]
    ends = []
    for i in range(0, len(ids), chunk):
        coll.delete_many({"_id": {"$in": ids[i : i + chunk]}})
        ends.append(time.monotonic())
    out.put(ends)


def run(binary: str, data_dir: Path, n: int, chunk: int) -> dict[str, float]:
    proc, uri = start(binary, data_dir, None)
    try:
        client: MongoClient[dict[str, object]] = MongoClient(uri)
        db = client["bench"]
        indexes.ensure(db)
        coll = db[names.TRANSACTIONS]
        stored = docs(n, "old")
        for i in range(0, n, 5000):
            coll.insert_many(stored[i : i + 5000], ordered=False)
        fresh = docs(200_000, "new")
        ends: Queue = Queue()
        deleter = Process(target=_delete, args=(uri, [d["_id"] for d in stored], chunk, ends))
        began_all = time.monotonic()
        deleter.start()
        spans: list[tuple[float, float]] = []
        while deleter.is_alive() and len(spans) * BATCH < len(fresh):
            began, at = time.monotonic(), len(spans) * BATCH
            coll.insert_many(fresh[at : at + BATCH], ordered=False)
            spans.append((began, time.monotonic()))
        done = ends.get()
        deleter.join()
        delete_s = done[-1] - began_all
        client.close()
        ordered = sorted(e - b for b, e in spans)
        passed = max(sum(b < t < e for t in done) for b, e in spans)
        return {"inserted": len(spans) * BATCH, "delete_rate": n / delete_s, "median_s": statistics.median(ordered),
                "p95_s": ordered[int(0.95 * (len(ordered) - 1))], "max_s": ordered[-1], "passed": passed,
                "delete_s": statistics.median(b - a for a, b in zip([began_all, *done], done, strict=False))}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", default="20000,2000", help="ids per delete command, one variant each")
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--baseline-bin", help="another FerretDB build, run with each chunk size too")
    args = parser.parse_args()
    builds = {"current": str(ROOT / "build" / "bin" / "paylake-ferretdb")}
    if args.baseline_bin:
        builds["baseline"] = args.baseline_bin
    with tempfile.TemporaryDirectory(prefix="paylake-fairness-") as tmp:
        for name, binary in builds.items():
            for chunk in (int(c) for c in args.chunks.split(",")):
                out = run(binary, Path(tmp) / f"{name}-{chunk}", args.docs, chunk)
                print(f"{name} build, {chunk:,}-id deletes: {out['delete_rate']:,.0f} docs/s deleted, "
                      f"{out['delete_s']:.3f} s per command (median); 1,000-doc inserts beside them: median "
                      f"{out['median_s']:.3f} s, p95 {out['p95_s']:.3f} s, max {out['max_s']:.3f} s, at most "
                      f"{out['passed']} delete commands completed during one ({out['inserted']:,} inserted)",
                      flush=True)


if __name__ == "__main__":
    main()
