"""`paylake marts build --date D | --from A --to B`, `paylake marts status` and `paylake marts gates`."""

from __future__ import annotations

import argparse
import json
from contextlib import AbstractContextManager
from datetime import date, timedelta
from typing import Any

from paylake.errors import UsageError


def dates(args: argparse.Namespace) -> list[date]:
    """The dates a build names: ``--date`` alone, or ``--from``..``--to`` inclusive."""
    if args.date and (args.date_from or args.date_to):
        raise UsageError("give --date, or --from and --to, not both")
    if args.date:
        return [args.date]
    if not (args.date_from and args.date_to):
        raise UsageError("give --date YYYY-MM-DD, or --from YYYY-MM-DD and --to YYYY-MM-DD")
    if args.date_to < args.date_from:
        raise UsageError(f"--to {args.date_to} is before --from {args.date_from}")
    return [args.date_from + timedelta(days=i) for i in range((args.date_to - args.date_from).days + 1)]


def _build(args: argparse.Namespace) -> int:
    from paylake.jobs import DAILY_MARTS
    from paylake.jobs.run import run
    from paylake.settings import load_settings

    settings, todo = load_settings(), dates(args)
    for n, day in enumerate(todo, 1):
        done = json.loads(run(DAILY_MARTS, settings, day=day.isoformat()))
        rows = ", ".join(f"{mart} {count}" for mart, count in done["rows"].items())
        print(f"[{n}/{len(todo)}] {day}: {done['fact_rows']} transactions, gates passed, "
              f"{'published' if done['published'] else 'NOT published'} ({rows}) in {done['seconds']:.1f} s",
              flush=True)
    return 0


def _db() -> AbstractContextManager[Any]:
    from paylake.mongo import open_db
    from paylake.settings import load_settings

    return open_db(load_settings())


def _status(args: argparse.Namespace) -> int:
    from paylake.marts import results, store

    with _db() as db:
        docs, last = store.published(db), results.recent(db, 1)
    print(f"{len([d for d in docs if d.get('published_run')])} dates published")
    for d in docs[-args.last:]:
        when = f", published {d['published_at']:%Y-%m-%d %H:%M:%S}" if d.get("published_at") else ""
        rows = d.get("rows") or d.get("staged_rows")
        print(f"  {d['_id']}: {d.get('state')}, run {d.get('published_run') or d.get('staged_run')}{when}, rows {rows}")
    if last:
        print(f"last gate run: {last[0]['_id']} ({last[0]['date']}): {'passed' if last[0]['passed'] else 'FAILED'}")
    return 0


def _gates(args: argparse.Namespace) -> int:
    from paylake.marts import results

    with _db() as db:
        runs = results.recent(db, args.last, args.date)
    for r in runs:
        print(f"{r['_id']} for {r['date']} at {r['finished_at']:%Y-%m-%d %H:%M:%S}: "
              f"{'passed' if r['passed'] else 'FAILED'}")
        for c in r["checks"]:
            sample = f"  e.g. {', '.join(c['sample'])}" if c["sample"] else ""
            print(f"  {'ok ' if c['passed'] else 'BAD'} {c['name']:<28} {c['count']:>8}  {c['detail']}{sample}")
    if not runs:
        print("no gate runs yet: `paylake marts build --date YYYY-MM-DD`")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    marts = subparsers.add_parser("marts", help="daily marts over hot ∪ cold, with data-quality gates")
    actions = marts.add_subparsers(dest="marts_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build, gate and publish the marts of one date or a range (backfill)")
    build.add_argument("--date", type=date.fromisoformat, help="one UTC date, YYYY-MM-DD")
    build.add_argument("--from", dest="date_from", type=date.fromisoformat, help="first UTC date of a backfill")
    build.add_argument("--to", dest="date_to", type=date.fromisoformat, help="last UTC date of a backfill (inclusive)")
    build.set_defaults(func=_build)
    status = actions.add_parser("status", help="the dates built and the last gate run")
    status.add_argument("--last", type=int, default=10, help="dates to list (default 10)")
    status.set_defaults(func=_status)
    gates = actions.add_parser("gates", help="data-quality gate runs, newest first, with every check")
    gates.add_argument("--date", type=date.fromisoformat, default=None, help="only the runs for this date")
    gates.add_argument("--last", type=int, default=3, help="runs to show (default 3)")
    gates.set_defaults(func=_gates)
