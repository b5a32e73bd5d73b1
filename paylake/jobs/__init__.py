"""Every job paylake runs, declared once: its entry function, schedule, timeout, lock and resources.

DAGs (schedule, ``execution_timeout``), Airflow tasks and the CLI (``paylake.jobs.run``), the spark-submit
entry (``paylake.jobs.main``) and the jobs' own locks read these declarations; nothing restates them. This
module imports nothing heavy: DAG files import it at parse time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta


@dataclass(frozen=True)
class Job:
    name: str  # the lock's name too, and the Spark application name's suffix
    entry: str  # "module:function": function([spark,] settings, **arguments) -> a result with .summary()
    every: timedelta  # the DAG's schedule
    timeout: timedelta  # the DAG task's execution_timeout; a spark-submit run is stopped just before it
    lock_ttl: timedelta  # how long a lock outlives its holder's last renewal: only a dead holder's expires
    spark_conf: dict[str, str] = field(default_factory=dict)  # per-session Spark SQL settings
    spark: bool = True  # the entry takes a Spark session first; False: it runs in the caller, no Spark
    # How long a run waits for the lock while another run holds it, before it fails with LockBusy (and
    # Airflow retries it): 0 for jobs whose next run redoes the work anyway.
    lock_wait: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.lock_ttl <= self.timeout:
            raise ValueError(f"job {self.name}: the lock TTL must outlast the task timeout")
        if self.lock_wait >= self.timeout:
            raise ValueError(f"job {self.name}: the lock wait must leave the task time to run")

    @property
    def app_name(self) -> str:
        return f"paylake-{self.name}"


# One task per 5-minute run refreshes in a loop (PAYLAKE_KPI_PERIOD_S): seconds-fresh KPIs, a readable
# Airflow UI (288 runs a day), one Spark Connect session per run.
KPI_REFRESH = Job(
    name="kpi_refresh",
    entry="paylake.kpi.loop:run",
    every=timedelta(minutes=5),
    timeout=timedelta(minutes=10),
    lock_ttl=timedelta(minutes=15),
    # A refresh's rows are a few hundred new ones and their customers' lookback: one shuffle partition, and
    # no code generation: compiling each plan's Java (its literals, the range bounds, change every refresh,
    # so the compiled-code cache never hits) cost more server CPU than interpreting a few hundred rows
    # (bench/freshness.py: 2.2 s → 1.4 s per refresh). Nor adaptive execution: it re-plans a query at each
    # exchange, work that pays off on big shuffles, not on a one-task refresh (server CPU per refresh
    # -12 %); nor constraint propagation, an optimiser pass over every filter of the rules' plan (-6 %).
    spark_conf={
        "spark.sql.shuffle.partitions": "1",
        "spark.sql.codegen.wholeStage": "false",
        "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        "spark.sql.adaptive.enabled": "false",
        "spark.sql.constraintPropagation.enabled": "false",
    },
)
ARCHIVE = Job(
    name="archive",
    entry="paylake.archive.job:run_archive",
    every=timedelta(minutes=5),
    timeout=timedelta(minutes=60),
    lock_ttl=timedelta(hours=2),
    spark=False,  # a copy, not a computation: pymongo → Arrow → Parquet (paylake/archive/parquet_io.py)
)
# One UTC date's marts (hot ∪ cold, gated, published atomically); the DAG runs it daily, the CLI backfills.
DAILY_MARTS = Job(
    name="daily_marts",
    entry="paylake.marts.job:run",
    every=timedelta(days=1),
    timeout=timedelta(minutes=60),
    lock_ttl=timedelta(hours=2),
    # An Airflow backfill's runs and the scheduled run do not share max_active_runs: two dates' builds may start
    # together (seen in `make demo`: a failed first try, retried a minute later). A build lasts ~10-60 s.
    lock_wait=timedelta(minutes=10),
)
JOBS = {job.name: job for job in (KPI_REFRESH, ARCHIVE, DAILY_MARTS)}
