"""The spark-submit entry of every Spark job: `spark-submit …/paylake/jobs/main.py JOB [--until ISO]
[--for-s S] [--day YYYY-MM-DD]`. The file ships in the package, so an installed wheel can submit it; it
runs the job on the session spark-submit configured (never a Spark Connect client) and prints the job's
JSON summary last."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


def arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The job's keyword arguments given on the command line (the others keep the entry's defaults)."""
    given = {"until": args.until, "for_s": args.for_s, "day": args.day}
    return {k: v for k, v in given.items() if v is not None}


def parser() -> argparse.ArgumentParser:
    from paylake.jobs import JOBS
    from paylake.kpi.commands import parse_until

    out = argparse.ArgumentParser(prog="paylake/jobs/main.py", description=__doc__)
    out.add_argument("job", choices=sorted(name for name, job in JOBS.items() if job.spark))
    out.add_argument("--until", type=parse_until, help="kpi_refresh: ISO-8601 upper ingest-time bound")
    out.add_argument("--for-s", type=float, help="kpi_refresh: keep refreshing for this many seconds")
    out.add_argument("--day", help="daily_marts: the UTC date to build (YYYY-MM-DD)")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from paylake.cli import configure_logging
    from paylake.errors import PaylakeError
    from paylake.jobs import JOBS
    from paylake.jobs.run import run
    from paylake.settings import load_settings

    args = parser().parse_args(argv)
    configure_logging()
    settings = load_settings().with_overrides(spark_remote="off")  # spark-submit made the session's master
    try:
        print(run(JOBS[args.job], settings, **arguments(args)), flush=True)
    except PaylakeError as exc:  # lock busy, Redis down…: one line; the next run completes the work
        print(f"{args.job}: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
