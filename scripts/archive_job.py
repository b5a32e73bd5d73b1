"""spark-submit entry point: one archive run (see paylake/archive/job.py). Prints the run summary as JSON."""

import argparse
import sys

from paylake.archive.job import run_from_env
from paylake.cli import configure_logging
from paylake.errors import PaylakeError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--max-mb", type=float, default=None, help="threshold for this run (default PAYLAKE_HOT_MAX_MB)"
    )
    args = parser.parse_args()
    configure_logging()
    try:
        print(run_from_env(args.max_mb).summary())
    except PaylakeError as exc:
        # Expected failures (lock busy, cold store down, ...) get one line, not a traceback; the manifest lets
        # the next run finish the work.
        print(f"archive_job: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
