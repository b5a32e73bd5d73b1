"""spark-submit entry point: one archive run (see paylake/archive/job.py). Prints the run summary as JSON."""

import argparse
import logging

from paylake.archive.job import run_from_env

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--max-mb", type=float, default=None, help="threshold for this run (default PAYLAKE_HOT_MAX_MB)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(run_from_env(args.max_mb).summary())
