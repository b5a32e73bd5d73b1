"""Projection bench: FerretDB's CPU for a read of two fields of every hot transaction, with and without its projection.

The read is the archive's former hot histogram (it plans from its slice reads now, paylake/archive/slices.py):
``find({}, {_id: 0, event_time: 1, ingest_time: 1}, batch_size=10_000)``; the KPI loop's lookback read is of
the same kind (six fields). Starts a private FerretDB (no other server) on a free port in
a temp dir, loads ``--docs`` transactions of bench/archive.py's shape (17 fields), then runs, ``--rounds``
times interleaved, the projected find and the same find without projection (whole documents: the baseline of
the same run), and prints FerretDB's CPU seconds (from /proc) and the wall time of each, and their medians.

With ``--baseline-bin`` (a paylake-ferretdb built without projection-pushdown.patch), a second FerretDB from
that binary gets the same documents and the same reads, interleaved with the first's:

    .venv/bin/python bench/projection.py --docs 100000 --rounds 3 [--baseline-bin /path/to/paylake-ferretdb]
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from archive import records
from procs import process_cpu_s
from pymongo import MongoClient

from paylake import names, schema
from paylake.stack import manager
from paylake.stack.process import free_port

PROJECTION = {"_id": 0, "event_time": 1, "ingest_time": 1}  # the archive's former histogram read


def load(uri: str, docs: list[dict[str, Any]]) -> None:
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    coll = client["bench"][names.TRANSACTIONS]
    for i in range(0, len(docs), 5000):
        coll.insert_many([dict(d) for d in docs[i : i + 5000]])
    client.close()


def measure(uri: str, pid: int, projection: dict[str, int] | None) -> tuple[float, float, int]:
    """FerretDB CPU seconds, wall seconds and documents of one whole read."""
    client: MongoClient[Any] = MongoClient(uri, tz_aware=True)
    coll = client["bench"][names.TRANSACTIONS]
    coll.find_one({})  # connect outside the measured window
    cpu0, t0 = process_cpu_s(pid), time.perf_counter()
    n = sum(1 for _ in coll.find({}, projection, batch_size=10_000))
    wall, cpu = time.perf_counter() - t0, process_cpu_s(pid) - cpu0
    client.close()
    return cpu, wall, n


def start_baseline(binary: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    data_dir.mkdir(parents=True)
    port = free_port()
    proc = subprocess.Popen([binary, "-listen", f"127.0.0.1:{port}", "-dir", str(data_dir)],
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline-bin", help="a paylake-ferretdb without projection-pushdown.patch")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="paylake-bench-projection-"))
    settings = manager.private_settings(state, mongo_db="bench")
    mongo = next(s for s in manager.services(settings) if s.name == "mongo")  # FerretDB alone: no JVMs beside it
    mongo.start()
    baseline: subprocess.Popen[bytes] | None = None
    try:
        pid = mongo.pid()
        assert pid is not None
        servers: dict[str, tuple[str, int]] = {"patched": (settings.mongo_uri, pid)}
        if args.baseline_bin:
            baseline, uri = start_baseline(args.baseline_bin, state / "baseline")
            servers["baseline build"] = (uri, baseline.pid)
        docs = [schema.to_mongo(r) for r in records(args.docs, 48, random.Random(7))]
        for uri, _ in servers.values():
            load(uri, docs)
        reads: dict[str, dict[str, int] | None] = {"projected find": PROJECTION, "whole documents": None}
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for _ in range(args.rounds):
            for server, (uri, server_pid) in servers.items():
                for read, projection in reads.items():
                    cpu, wall, n = measure(uri, server_pid, projection)
                    assert n == args.docs, n
                    results.setdefault((server, read), []).append((cpu, wall))
        print(f"projection bench: {args.docs} transactions (17 fields), find({{}}, {PROJECTION}) vs whole documents,")
        print(f"  batch_size 10,000, {args.rounds} interleaved rounds; FerretDB CPU from /proc, wall on the client")
        median: Callable[[list[float]], float] = statistics.median
        for (server, read), runs in results.items():
            cpus = ", ".join(f"{c:.2f}" for c, _ in runs)
            walls = ", ".join(f"{w:.2f}" for _, w in runs)
            print(f"  {server:<15} {read:<16} CPU median {median([c for c, _ in runs]):5.2f} s ({cpus}); "
                  f"wall median {median([w for _, w in runs]):5.2f} s ({walls})")
        for server in servers:
            proj = median([c for c, _ in results[(server, "projected find")]])
            whole = median([c for c, _ in results[(server, "whole documents")]])
            print(f"  {server}: the projected find costs {proj / whole:.0%} of a whole-document read's FerretDB CPU "
                  f"({proj / args.docs * 1e6:.1f} us per document)")
        if args.baseline_bin:
            base = median([c for c, _ in results[("baseline build", "projected find")]])
            proj = median([c for c, _ in results[("patched", "projected find")]])
            print(f"  projected find, patched vs baseline build: {proj:.2f} s vs {base:.2f} s of CPU "
                  f"({base / proj:.1f}x less)")
    finally:
        if baseline is not None:
            baseline.terminate()
            baseline.wait(timeout=30)
        manager.down(settings, echo=lambda _line: None)


if __name__ == "__main__":
    main()
