"""spark-submit entry of one archive run: `archive_job.py [--max-mb MB]` (see paylake/jobs/main.py)."""

import sys

from paylake.jobs.main import main

sys.exit(main(["archive", *sys.argv[1:]]))
