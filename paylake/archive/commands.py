"""`paylake archive run | status` and `paylake query "SQL"`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date
from typing import Any

from paylake.errors import PaylakeError


def _run(args: argparse.Namespace) -> int:
    from paylake.jobs import ARCHIVE
    from paylake.jobs.run import run
    from paylake.settings import load_settings

    print(run(ARCHIVE, load_settings(), max_mb=args.max_mb))
    return 0


def _status(args: argparse.Namespace) -> int:

    from paylake import names
    from paylake.archive import manifest, size
    from paylake.jobs import ARCHIVE
    from paylake.mongo import open_db
    from paylake.settings import load_settings

    settings = load_settings()
    with open_db(settings) as db:
        print(size.measure(db, settings).line())  # read-only: the dashboard's figure is the archiver's
        batches = manifest.all_batches(db)
        lock = db[names.LOCKS].find_one({"_id": ARCHIVE.name})
    done = [b for b in batches if b["state"] == "complete"]
    rows, size_bytes = sum(b.get("rows") or 0 for b in done), sum(b.get("bytes") or 0 for b in done)
    print(f"cold {settings.cold_uri}: {len(done)} complete batches, {rows} transactions, {size_bytes / 1e6:.2f} MB")
    for b in batches:
        if b["state"] != "complete":
            print(f"  unfinished: {b['_id']} in state {b['state']} (the next run finishes or rolls it back)")
    for b in done[-5:]:
        span = f"{b['range_start']:%Y-%m-%d %H:%M} .. {b['range_end']:%Y-%m-%d %H:%M}"
        print(f"  {b['_id']}: {b['rows']} rows, {b['bytes']} bytes, event time {span}")
    if lock:
        print(f"lock held by {lock.get('owner')} until {lock.get('expires_at')}")
    return 0


def _text(v: Any, exact: bool = True) -> str:
    """A cell as text: floats in full (csv, json) or to 6 decimals (the table), never in 6 significant
    digits, which turned a sum of amounts like 4,790,354.26 into 4.79035e+06."""
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v if exact else round(v, 6))
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


def print_rows(columns: list[str], rows: list[tuple[Any, ...]], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows([[_text(v) for v in row] for row in rows])
    elif fmt == "json":
        print(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=_text, indent=1))
    else:
        cells = [columns, *[[_text(v, exact=False) for v in row] for row in rows]]
        widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
        for n, row in enumerate(cells):
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
            if n == 0:
                print("  ".join("-" * w for w in widths))
        print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})")


def _query(args: argparse.Namespace) -> int:
    import duckdb
    from pyspark.errors import PySparkException

    from paylake.archive import query
    from paylake.settings import load_settings

    settings = load_settings()
    try:
        if args.engine == "spark":
            from paylake.spark import build_session

            spark = build_session(settings, "paylake-query")
            try:
                columns, rows = query.run_spark(spark, settings, args.sql, args.date_from, args.date_to)
            finally:
                spark.stop()
        else:
            columns, rows = query.run_duckdb(settings, args.sql, args.date_from, args.date_to)
    except (OSError, duckdb.Error, PySparkException) as exc:  # SQL errors: a message, no traceback (exit 1)
        raise PaylakeError(str(exc)) from exc
    print_rows(columns, rows, args.format)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    archive = subparsers.add_parser("archive", help="move the oldest hot data to cold Parquet (HDFS)")
    actions = archive.add_subparsers(dest="archive_command", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="one archive run (skips when under the threshold)")
    run.add_argument("--max-mb", type=float, default=None, help="threshold for this run (default PAYLAKE_HOT_MAX_MB)")
    run.set_defaults(func=_run)
    actions.add_parser("status", help="hot size against the threshold, archived batches, lock").set_defaults(
        func=_status
    )

    q = subparsers.add_parser(
        "query",
        help="SQL over the views transactions (hot ∪ cold) and archive (cold)",
        description="Columns: the transaction fields plus date (UTC, the partition column); archive adds batch.",
    )
    q.add_argument("sql", help='e.g. "SELECT date, avg(CAST(is_fraud AS INT)) FROM transactions GROUP BY date"')
    q.add_argument("--format", choices=("table", "csv", "json"), default="table")
    q.add_argument("--engine", choices=("duckdb", "spark"), default="duckdb", help="duckdb: local, interactive")
    q.add_argument("--from", dest="date_from", type=date.fromisoformat, default=None, help="first UTC date to read")
    q.add_argument("--to", dest="date_to", type=date.fromisoformat, default=None, help="last UTC date to read")
    q.set_defaults(func=_query)
