"""The moving parts of bench/soak.py: the stack, the three workloads on their cadences, the sampler, the plot.

Workloads are the commands a user runs, as child processes, on the cadence of their DAGs (Airflow itself is
not started: its scheduler would cost the 2 cores more than the work it schedules):
  generator  `paylake generate --rate R --duration S` (event time = wall clock);
  KPI        `paylake kpi refresh --for-s 300` back to back: what each 5-minute kpi_refresh run's task does
             (a refresh every PAYLAKE_KPI_PERIOD_S on the Spark Connect server);
  archive    `paylake archive run` every ``archive_every`` seconds (the archiving DAG's 5 minutes by default):
             over the threshold it moves the oldest counted slices to HDFS until the low-water mark (its
             output in archive.log).
Before them, ``warm_spark`` runs the KPI loop on a scratch stream, as a server in service has; then the KPI
loop starts, and the generator and the archive's cadence once it has refreshed (the soak's clock starts then).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis
from procs import paylake
from pymongo.database import Database

from paylake import names
from paylake.archive import size
from paylake.jobs import KPI_REFRESH
from paylake.kpi.state import LAST_REFRESH_ID
from paylake.mongo import open_db
from paylake.settings import Settings, settings_env

KPI_RUN_S = int(KPI_REFRESH.every.total_seconds())  # one kpi_refresh DAG run's loop (its schedule)


@dataclass
class ArchiveRun:
    started_s: float  # since the soak's start
    seconds: float
    exit_code: int
    moved: int  # documents the run archived (the manifest's complete rows it added)


@dataclass
class Sample:
    t_s: float  # since the soak's start
    inserted: int  # the generator's persisted count (generator_stats)
    archived: int  # rows of complete archive batches (deleted from the hot store)
    hot_mb: float  # (inserted - archived) x the measured bytes per document
    backlog: int  # hot documents above the low-water mark: what the next archive run has to move
    lag_s: float | None  # now - the published KPI watermark; before the first publish, the time since the start
    cpu_pct: float  # the machine's, since the previous sample


@dataclass
class Workloads:
    """The processes and threads of one soak; ``stop`` ends the KPI and archive cadences."""

    settings: Settings
    archive_every: float
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)
    archive_runs: list[ArchiveRun] = field(default_factory=list)
    kpi_failures: int = 0
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return soak_env(self.settings)

    def start(self, rate: float, seconds: float) -> subprocess.Popen[bytes]:
        """The KPI loop first, as in service (kpi_refresh runs whether or not payments flow), then the
        generator once the loop has refreshed; the soak's clock starts with the stream's first document (the
        generator reads its dimensions first: 3,000,000 customers take ~30 s), then the archive's cadence."""
        self._spawn(self._kpi)
        loop_ready_s = self._wait(self._refreshed, "the KPI loop's first refresh (see kpi.log)")
        log = open(self.settings.state_dir / "generator.log", "wb")  # noqa: SIM115 (the child's)
        generator = subprocess.Popen(paylake("generate", "--rate", f"{rate:g}", "--duration", f"{seconds:g}"),
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()  # the child holds its own descriptor
        stream_s = self._wait(_any_transaction, "the generator's first insert (see generator.log)")
        print(f"  KPI loop up in {loop_ready_s:.0f} s; the stream's first insert {stream_s:.0f} s after the "
              "generator's start: the soak's clock starts", flush=True)
        self.started = time.monotonic()
        self._spawn(self._archive)
        return generator

    def _spawn(self, target: Any) -> None:
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self.threads.append(thread)

    def _refreshed(self, db: Database[Any]) -> bool:
        if self.kpi_failures:
            raise SystemExit("the KPI loop failed before its first refresh: see kpi.log")
        return db[names.KPI_STATE].find_one({"_id": LAST_REFRESH_ID}) is not None

    def _wait(self, done: Callable[[Database[Any]], bool], what: str, timeout_s: float = 300.0) -> float:
        began = time.monotonic()
        with open_db(self.settings, 10_000) as db:
            while not done(db):
                if time.monotonic() - began > timeout_s:
                    raise SystemExit(f"no sign of {what} within {timeout_s:.0f} s")
                time.sleep(0.2)
        return time.monotonic() - began

    def _kpi(self) -> None:
        # Each run's log (a line per refresh: its range, rows, seconds) in the soak's state dir, kpi.log.
        with open(self.settings.state_dir / "kpi.log", "ab") as log:
            self._kpi_runs(log)

    def _kpi_runs(self, log: Any) -> None:
        while not self.stop.is_set():
            log.write(f"--- kpi loop run at {time.monotonic() - self.started:.1f} s\n".encode())
            log.flush()
            proc = subprocess.Popen(paylake("kpi", "refresh", "--for-s", str(KPI_RUN_S)), env=self.env,
                                    stdout=log, stderr=subprocess.STDOUT)
            while proc.poll() is None:
                if self.stop.wait(1):  # the soak is over: stopped mid-refresh, the final refresh redoes it
                    proc.terminate()
                    proc.wait()
                    return
            if proc.returncode != 0:
                self.kpi_failures += 1
                self.stop.wait(5)  # a down server: the next run retries, as Airflow's retry would

    def _archive(self) -> None:
        # The DAG's cadence: a run starts every archive_every seconds, or right after one that overran (one
        # active run at a time).
        due = time.monotonic() + self.archive_every
        while not self.stop.wait(max(due - time.monotonic(), 0.0)):
            begin = time.monotonic()
            due = max(due + self.archive_every, begin)
            with open_db(self.settings, 10_000) as db, open(self.settings.state_dir / "archive.log", "ab") as log:
                before = archived_rows(db)
                log.write(f"--- archive run at {begin - self.started:.1f} s\n".encode())
                log.flush()
                proc = subprocess.run(paylake("archive", "run"), env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                      check=False)
                moved = archived_rows(db) - before
            self.archive_runs.append(ArchiveRun(begin - self.started, time.monotonic() - begin, proc.returncode, moved))
            if proc.returncode:
                sys.stderr.write(f"archive run at {begin - self.started:.0f} s failed (exit {proc.returncode}): "
                                 f"see {self.settings.state_dir / 'archive.log'}\n")

    def finish(self) -> None:
        """Stop the cadences: the KPI loop is stopped (crash-safe: the final refresh redoes what it held),
        an archive run in progress is waited for."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=900)


def warm_spark(settings: Settings, rate: float, seconds: float = 45.0) -> float:
    """Run the KPI loop beside the generator on a scratch stream first (a database, dimensions and Redis db of
    its own, dropped after), so that the fresh Spark Connect server has compiled and JIT-warmed the refresh's
    code as a server in service has: otherwise the soak's first refresh took ~56 s, and its lag weighed on the
    p95 of a 10-minute soak. Returns the seconds it took. The measured stream then starts as a new loop on a
    warm server, with nothing to take over from a previous loop."""
    began = time.monotonic()
    redis_url = urlparse(settings.redis_url)._replace(path="/15").geturl()  # the stack's Redis, db 15
    scratch = settings.with_overrides(mongo_db=f"{settings.mongo_db}_warmup", customers=20_000, redis_url=redis_url)
    env = soak_env(scratch)
    quiet(paylake("dimensions"), env)
    with open(settings.state_dir / "warmup.log", "wb") as log:
        generator = subprocess.Popen(paylake("generate", "--rate", f"{rate:g}", "--duration", f"{seconds:g}"),
                                     env=env, stdout=log, stderr=subprocess.STDOUT)
        quiet(paylake("kpi", "refresh", "--for-s", f"{seconds:g}"), env)
        generator.wait()
    with open_db(scratch) as db:
        db.client.drop_database(scratch.mongo_db)
        db.client.drop_database(names.inflight_db(scratch.mongo_db))
    redis.Redis.from_url(redis_url).flushdb()
    for left in (settings.state_dir / "kpi").glob(f"*-{scratch.mongo_db}-*.arrow"):  # its loop's hand-over
        left.unlink()
    return time.monotonic() - began


def archived_rows(db: Database[Any]) -> int:
    done = db[names.ARCHIVE_MANIFEST].find({"state": "complete"}, {"rows": 1})
    return sum(int(d.get("rows") or 0) for d in done)


def _any_transaction(db: Database[Any]) -> bool:
    return db[names.TRANSACTIONS].find_one({}, {"_id": 1}) is not None


def inserted(db: Database[Any]) -> int:
    doc = db[names.GENERATOR_STATS].find_one({"_id": "totals"}) or {}
    return int(doc.get("inserted", 0))


def measured_doc_bytes(settings: Settings) -> float:
    """Bytes per hot document by collStats (a scan on FerretDB: measured once, when a few thousand exist)."""
    with open_db(settings) as db:
        report = size.measure(db, settings)
    return report.data_bytes / max(report.docs, 1)


def _cpu_ticks() -> tuple[int, int]:
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def _lag_s(client: redis.Redis) -> float | None:
    version = client.get(names.KPI_CURRENT)
    if version is None:
        return None
    mark = client.hget(names.kpi_snapshot_key(str(version), "meta"), "watermark")
    if not mark:
        return None
    return (datetime.now(UTC) - datetime.fromisoformat(str(mark))).total_seconds()


class Sampler(threading.Thread):
    """Every ``every_s``: counts from MongoDB, the KPI watermark's age from Redis, the machine's CPU."""

    def __init__(self, settings: Settings, work: Workloads, doc_bytes: float, every_s: float) -> None:
        super().__init__(daemon=True)
        self.settings, self.work, self.doc_bytes, self.every_s = settings, work, doc_bytes, every_s
        self.samples: list[Sample] = []

    def run(self) -> None:
        r = redis.Redis.from_url(self.settings.redis_url, socket_timeout=5, decode_responses=True)
        with open_db(self.settings, 10_000) as db:  # one client for the soak's samples
            self._sample(r, db)

    def _sample(self, r: redis.Redis, db: Database[Any]) -> None:
        busy, total = _cpu_ticks()
        while not self.work.stop.wait(self.every_s):
            now_busy, now_total = _cpu_ticks()
            cpu = 100.0 * (now_busy - busy) / max(now_total - total, 1)
            busy, total = now_busy, now_total
            ins, arc = inserted(db), archived_rows(db)
            hot_mb = (ins - arc) * self.doc_bytes / size.MB
            low_water_docs = self.settings.hot_low_water * self.settings.hot_max_mb * size.MB / self.doc_bytes
            backlog = max(0, int(ins - arc - low_water_docs))
            t_s = time.monotonic() - self.work.started
            lag = _lag_s(r)
            # Before the first publish the dashboard has nothing of the stream: as far behind as it is old.
            self.samples.append(Sample(t_s, ins, arc, hot_mb, backlog, t_s if lag is None else lag, cpu))


def soak_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings_env(settings)}


MODEL = Path(__file__).resolve().parent.parent / ".state" / "models" / "ctgan.pkl"  # the demo's


def quiet(argv: list[str], env: dict[str, str]) -> str:
    """Run a paylake command; its stdout, or its stderr's tail in the error."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise SystemExit(f"{' '.join(argv[1:])} failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return proc.stdout


def ensure_model(env: dict[str, str], model: Path) -> None:
    if not model.exists():
        subprocess.run(paylake("train", "--quick"), env=env, check=True)


def first_doc_bytes(settings: Settings, generator: subprocess.Popen[bytes], docs: int = 5_000) -> float:
    """Bytes per document, measured once a few thousand are in (or the generator ended)."""
    with open_db(settings, 10_000) as db:
        while inserted(db) < docs and generator.poll() is None:
            time.sleep(1)
    return measured_doc_bytes(settings)


@dataclass(frozen=True)
class Final:
    generated: int  # the generator's inserted count (no bad records in a soak)
    hot: int
    cold: int  # rows of complete archive batches
    distinct: int  # distinct transaction ids over hot ∪ cold
    kpi_count: int  # the published all-time count

    @property
    def exact(self) -> bool:
        return self.generated == self.hot + self.cold == self.distinct == self.kpi_count


def final_counts(settings: Settings, env: dict[str, str]) -> Final:
    """After the stream: one refresh counting everything ingested, then the counts exactly once is judged on
    (hot documents, complete cold rows, distinct ids over hot ∪ cold by `paylake query`, the KPI all-time)."""
    # One refresh counts one range: a loop stopped mid-refresh leaves a pending range, which the next redoes
    # alone. Refresh until one finds nothing new.
    for _ in range(20):
        if json.loads(quiet(paylake("kpi", "refresh"), env).strip().splitlines()[-1]).get("new_count") == 0:
            break
    sql = "SELECT count(DISTINCT transaction_id) AS ids FROM transactions"
    ids = quiet(paylake("query", "--engine", "spark", "--format", "csv", sql), env).split()[-1]
    r = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    version = r.get(names.KPI_CURRENT)
    count = r.hget(names.kpi_headline_key(str(version), "all"), "count") if version else None
    with open_db(settings) as db:
        return Final(inserted(db), db[names.TRANSACTIONS].count_documents({}), archived_rows(db), int(ids),
                     int(count or 0))
