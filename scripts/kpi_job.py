"""spark-submit entry of the KPI refresh: `kpi_job.py [--until ISO] [--for-s S]` (see paylake/jobs/main.py)."""

import sys

from paylake.jobs.main import main

sys.exit(main(["kpi_refresh", *sys.argv[1:]]))
