"""spark-submit entry of the KPI refresh (the DAG kpi_refresh runs it): `kpi_job.py [--until ISO]`."""

import argparse
import sys

from paylake.cli import configure_logging
from paylake.errors import PaylakeError
from paylake.kpi.commands import parse_until
from paylake.kpi.job import run_refresh
from paylake.settings import load_settings
from paylake.spark import build_session

parser = argparse.ArgumentParser(description=__doc__)
parser.add_argument("--until", type=parse_until, default=None)
args = parser.parse_args()
configure_logging()
settings = load_settings()
spark = build_session(settings, "paylake-kpi-refresh")
try:
    print(run_refresh(spark, settings, until=args.until).summary(), flush=True)
except PaylakeError as exc:  # Redis down, lock busy: one line; the next run republishes from MongoDB
    print(f"kpi_job: {exc}", file=sys.stderr)
    sys.exit(exc.exit_code)
finally:
    spark.stop()
