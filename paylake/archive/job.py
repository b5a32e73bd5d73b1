"""One archive run: finish or roll back unfinished batches, then move the oldest counted hours to cold.

Per batch (states in the manifest, see manifest.py):
  planned   manifest document created (range, KPI watermark at plan time)
  written   the batch's rows read from MongoDB (its filter, as Arrow) and written as one Parquet file to
            ``_tmp/<id>/date=…`` (parquet_io.py; no Spark: a batch is a copy, not a computation)
  verified  read back: row count and the exact id set equal the source; JSON manifest put beside the data
  published one atomic rename to ``transactions/date=…/batch=<id>``; JSON + MongoDB manifest say so
  deleted   exactly the ids read back from the published files deleted from MongoDB (by id), then checked gone
  complete  manifest closed, JSON rewritten, pushed to the dashboard list in Redis
The steps are batch.py's. A run reads (and plans, slices.py) each batch while the one before is written, and
deletes each batch beside the next one's write, verify and publish: batches are independent ranges, and
each is published before any of its rows is deleted.
Recovery, first thing under the lock: a batch before ``verified`` is rolled back (temporary files
removed; MongoDB was never touched); from ``verified`` on it is rolled forward to ``complete``.
So at every instant each transaction is in MongoDB, or in a published batch, or both — never neither —
and "both" exists only for published-but-not-complete batches, which ``query`` deduplicates.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake.archive import batch as steps
from paylake.archive import manifest, size, slices
from paylake.archive.batch import Phases, roll_forward
from paylake.archive.coldfs import ColdFS, open_cold
from paylake.archive.plan import Batch, docs_to_free
from paylake.jobs import ARCHIVE
from paylake.kpi.state import read_watermark
from paylake.lock import Lock, job_lock
from paylake.mongo import open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    data_mb_before: float = 0.0
    data_mb_after: float | None = None
    threshold_mb: float = 0.0
    low_water_mb: float = 0.0
    recovered: list[str] = field(default_factory=list)  # "<batch id>: rolled back | completed"
    batches: list[dict[str, Any]] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    phases: Phases = field(default_factory=Phases)  # "recover" includes the phases of batches it finished

    def summary(self) -> str:
        return json.dumps(asdict(self), default=str)


def recover(db: Database[Any], cold: ColdFS, phases: Phases) -> list[str]:
    """Finish or roll back every batch a previous run left unfinished (called under the lock)."""
    done = []
    for doc in manifest.unfinished(db):
        batch_id, paths = str(doc["_id"]), manifest.paths(str(doc["_id"]), doc["date"])
        verified_gone = doc["state"] == "verified" and not cold.exists(paths.tmp_date) and not cold.exists(paths.final)
        if doc["state"] in ("planned", "written") or verified_gone:
            # MongoDB was not touched before "published": dropping the temporary copy loses nothing.
            cold.delete(paths.tmp_root)
            manifest.forget(db, batch_id)
            log.warning("batch %s: rolled back from state %s", batch_id, doc["state"])
            done.append(f"{batch_id}: rolled back")
        else:
            roll_forward(db, cold, doc, phases)
            log.warning("batch %s: completed from state %s", batch_id, doc["state"])
            done.append(f"{batch_id}: completed")
    return done


def run_archive(settings: Settings, max_mb: float | None = None) -> RunResult:
    """Archive until the hot store is under the low-water mark (threshold ``max_mb`` or the setting)."""
    started, result, cold = time.monotonic(), RunResult(), open_cold(settings)
    with open_db(settings) as db, job_lock(db, ARCHIVE) as lock:
        cold.exists("")  # fail fast, naming the URL, when cold storage is down (the DAG retries)
        phases = result.phases
        with phases("recover"):
            result.recovered = recover(db, cold, phases)
        with phases("size"):
            before = size.measure(db, settings, max_mb)
        result.data_mb_before, result.threshold_mb = before.data_mb, before.threshold_mb
        result.low_water_mb = before.low_water_mb
        # A batch rolled forward was planned by a run that had started moving: this one goes on from there.
        resumed = any(r.endswith("completed") for r in result.recovered)
        result.skipped, after = _move(settings, _Run(db, cold, lock, result, max_mb), before, started=resumed)
        size.record(settings.redis_url, after)  # once per run, after any move (recover may have moved some)
        manifest.publish_recent(db, settings.redis_url)  # every run: heals a restarted (empty) Redis
        result.data_mb_after = after.data_mb
    result.seconds = round(time.monotonic() - started, 2)
    log.info("archive run: %s", result.summary())
    return result


@dataclass(frozen=True)
class _Run:
    db: Database[Any]
    cold: ColdFS
    lock: Lock
    result: RunResult
    max_mb: float | None


# The size to free is estimated from the average document, which carries the store's fixed overhead
# (SQLite's interior and part-filled pages), so a round can end a few KB above the low-water mark: a
# second round moves the rest. More than that would mean the estimate is far off; the next run goes on.
MOVE_ROUNDS = 3


def _move(
    settings: Settings, run: _Run, before: size.SizeReport, *, started: bool
) -> tuple[str | None, size.SizeReport]:
    """Archive the batches that bring the hot store under its low-water mark, in rounds measured in
    between (over the threshold, or over the low-water mark once ``started``); why nothing moved (or None),
    and the size after."""
    report = before
    for round_ in range(MOVE_ROUNDS):
        skipped = _move_round(settings, run, report, started=started or round_ > 0)
        if skipped is not None:
            return (skipped if round_ == 0 else None), report
        with run.result.phases("size"):
            report = size.measure(run.db, settings, run.max_mb)
    return None, report


def _move_round(settings: Settings, run: _Run, report: size.SizeReport, *, started: bool) -> str | None:
    """Archive the batches that should bring the store under its low-water mark; why nothing moved, or None."""
    need = docs_to_free(report.data_bytes, report.docs, report.threshold_mb, report.low_water, started=started)
    watermark = read_watermark(run.db)
    if need == 0:
        return f"under the {'low-water mark' if started else 'threshold'}: {report.line()}"
    if watermark is None:
        return "the KPI job has not counted anything yet (no watermark): nothing may move"
    slice_len = timedelta(minutes=settings.archive_slice_min)
    request = slices.Request(need, watermark, slice_len, manifest.batch_ids(run.db))
    if not _pipeline(run, slices.batches(run.db, request), watermark):
        return f"over the threshold but no hour is fully counted below the watermark {watermark}"
    return None


def _pipeline(run: _Run, planned: Iterator[tuple[Batch, pa.Table]], watermark: datetime) -> int:
    """Move the ``planned`` batches in order, overlapped: a batch is read (and planned) while the one before it
    is written, and deleted while the next one is written, verified and published (MongoDB serves reads
    beside a delete; FerretDB's SQLite too, in WAL mode). A failed delete stops the run before the next
    batch; recovery completes it. Returns how many batches were planned."""
    phases, count = run.result.phases, 0
    finishing: list[Future[dict[str, Any]]] = []
    with ThreadPoolExecutor(1, "archive-read") as reader, ThreadPoolExecutor(1, "archive-delete") as deleter:
        reading = reader.submit(next, planned, None)
        while True:  # oldest first: a run stopped half way leaves the oldest archived
            with phases("read"):  # only the time spent waiting for it
                item = reading.result()
            if item is None or any(f.done() and f.exception() for f in finishing):
                break
            reading, count = reader.submit(next, planned, None), count + 1
            verified = steps.write_verified(run.db, run.cold, item[0], item[1], watermark, phases)
            if verified is not None:
                doc = steps.publish(run.db, run.cold, verified[0], phases)
                finishing.append(deleter.submit(steps.finish, run.db, run.cold, doc, verified[1], phases))
            run.lock.renew()
        reading.cancel()
    run.result.batches.extend(manifest.to_json(f.result()) for f in finishing)
    return count
