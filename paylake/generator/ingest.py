"""Validate → insert_many(ordered=False) in batches; every record ends up counted exactly once.

* valid records go to the fact collection (``_id`` = transaction id, ``ingest_time`` stamped right before
  each insert attempt); an id already stored counts as ``duplicate`` and adds nothing; while a batch is
  being inserted, retries included, the writer's entry in ``ingest_inflight`` holds the KPI's bound below
  its stamps (paylake/inflight.py), so no refresh counts part of a batch;
* invalid records go to ``dead_letter`` with their reasons (never dropped);
* MongoDB unreachable: retry with exponential backoff and a clear message. After a connection error the
  batch is reconciled by id: a stored document carrying this batch's own ingest stamp was inserted by the
  lost attempt (``inserted``), one with another stamp was there before (``duplicate``), the rest is retried;
* when retries run out (``max_retry_s``) or the run is forced to stop, the remaining records are written to
  a JSON-lines spill file and counted as ``failed``.
So ``generated == inserted + duplicate + dead_lettered + failed`` at every batch boundary.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pymongo.errors import BulkWriteError, ConnectionFailure, OperationFailure

from paylake import clock, names, schema
from paylake.inflight import Fence
from paylake.mongo import DUPLICATE_KEY

# Errors after which the server state is unknown (connection lost, server shutting down): back off,
# reconcile and retry. A write error other than a duplicate key is retried too (a restarting server may
# reject writes); if it persists past the retry budget the record is dead-lettered with the server's reason.
RETRYABLE = (ConnectionFailure, OperationFailure)


@dataclass
class Counts:
    generated: int = 0
    inserted: int = 0
    duplicate: int = 0
    dead_lettered: int = 0
    failed: int = 0
    seconds: float = 0.0  # wall time from the first batch handed in to the last one stored

    @property
    def rate(self) -> float:
        """Records per second over ``seconds`` (the steady-state rate, start-up excluded)."""
        return self.generated / self.seconds if self.seconds > 0 else 0.0

    @property
    def accounted(self) -> int:
        return self.inserted + self.duplicate + self.dead_lettered + self.failed

    def adds_up(self) -> bool:
        return self.generated == self.accounted

    def line(self) -> str:
        return (f"generated {self.generated:,}  inserted {self.inserted:,}  duplicate {self.duplicate:,}  "
                f"dead-lettered {self.dead_lettered:,}  failed {self.failed:,}")


def route(records: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], list[str]]]]:
    """Split records into fact documents (valid) and (record, reasons) pairs (invalid). Pure."""
    valid, invalid = [], []
    for record in records:
        reasons = schema.validate(record)
        if reasons:
            invalid.append((record, reasons))
        else:
            valid.append(schema.to_mongo(record))
    return valid, invalid


def _storable(value: Any) -> Any:
    """A value the server accepts: non-finite floats (FerretDB drops the connection on NaN) and types BSON
    cannot encode become their text."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if value is None or isinstance(value, (str, bool, int, float, datetime)):
        return value
    if isinstance(value, dict):
        return {str(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return repr(value)


def dead_letter_doc(record: dict[str, Any], reasons: list[str], received_at: datetime) -> dict[str, Any]:
    """The dead-letter document: the raw record (made storable), every reason, when, and from where."""
    return {"record": _storable(record), "reasons": reasons, "received_at": received_at, "source": "generator"}


def stderr_line(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def backoff(attempt: int, started: float, max_retry_s: float, what: str, exc: Exception,
            echo: Callable[[str], None], base_s: float = 0.25) -> bool:
    """Sleep before retry ``attempt`` (exponential from ``base_s``, at most 5 s), saying why; False, without
    sleeping, once ``max_retry_s`` have passed since ``started``."""
    if time.monotonic() - started > max_retry_s:
        return False
    delay = min(base_s * 2 ** attempt, 5.0)
    echo(f"paylake generate: {what} unreachable ({type(exc).__name__}: {str(exc)[:120]}); "
         f"retry {attempt + 1} in {delay:.1f}s")
    time.sleep(delay)
    return True


class Ingestor:
    def __init__(self, db: Any, *, max_retry_s: float = 300.0, echo: Callable[[str], None] = stderr_line,
                 spill_path: Path | None = None, where: str = "MongoDB",
                 on_ingest: Callable[[Counts], object] | None = None) -> None:
        self.counts, self.echo, self.on_ingest = Counts(), echo, on_ingest  # on_ingest: stats.StatsRecorder
        self.max_retry_s, self.spill_path, self.where = max_retry_s, spill_path, where
        self.tx = db[names.TRANSACTIONS]
        self.dead = db[names.DEAD_LETTER]
        self.fence = Fence(db)  # readers' bounds stay below a batch until all of it has landed
        self._last_stamp = datetime.min.replace(tzinfo=UTC)
        self._first: float | None = None  # when the first batch was handed in (the rate excludes start-up)

    def ingest(self, records: list[dict[str, Any]]) -> None:
        """Count ``records`` as generated, then store each one as fact, duplicate, dead letter or failure."""
        began = time.monotonic()
        first = self._first = began if self._first is None else self._first
        try:
            self._ingest(records)
        finally:
            self.counts.seconds = time.monotonic() - first
            if self.on_ingest is not None:
                self.on_ingest(self.counts)

    def _ingest(self, records: list[dict[str, Any]]) -> None:
        self.counts.generated += len(records)
        now = clock.now_ms()
        for record in records:
            if record.get("ingest_time") is None:
                record["ingest_time"] = now  # provisional; the real stamp is set right before insert
        valid, invalid = route(records)
        if invalid:
            self._insert_dead([dead_letter_doc(r, why, now) for r, why in invalid])
        if valid:
            self._insert_facts(valid)

    def _stamp(self) -> datetime:
        stamp = max(clock.now_ms(), self._last_stamp + timedelta(milliseconds=1))  # unique per attempt
        self._last_stamp = stamp
        return stamp

    def _backoff(self, attempt: int, started: float, exc: Exception) -> bool:
        """Sleep before the next attempt; False when the retry budget is spent."""
        return backoff(attempt, started, self.max_retry_s, self.where, exc, self.echo)

    def _insert_facts(self, docs: list[dict[str, Any]]) -> None:
        pending, attempt, started = docs, 0, time.monotonic()
        stamps: set[datetime] = set()
        reconcile, rejected = False, {}  # rejected: _id → the server's last reason for refusing it
        try:
            while pending:
                try:
                    if reconcile:
                        pending = self._reconcile(pending, stamps)
                        reconcile = False
                        if not pending:
                            return
                    self.fence.open()  # before the stamp: see paylake/inflight.py
                    stamp = self._stamp()
                    stamps.add(stamp)
                    for doc in pending:
                        doc["ingest_time"] = stamp
                    self.tx.insert_many(pending, ordered=False)
                    self.counts.inserted += len(pending)
                    return
                except BulkWriteError as exc:
                    pending, reasons = self._bulk_outcome(pending, exc)
                    rejected.update(reasons)
                    if not pending:
                        return
                    exc_for_retry: Exception = exc
                except RETRYABLE as exc:
                    reconcile, exc_for_retry = True, exc
                if not self._backoff(attempt, started, exc_for_retry):
                    self._give_up(pending, rejected)
                    return
                attempt += 1
        except KeyboardInterrupt:
            self._spill(pending, "interrupted while retrying")
            raise
        finally:
            self.fence.close()

    def _give_up(self, pending: list[dict[str, Any]], rejected: dict[Any, str]) -> None:
        refused = [d for d in pending if d["_id"] in rejected]
        if refused:
            self._insert_dead([dead_letter_doc(schema.from_mongo(d), [f"rejected by server: {rejected[d['_id']]}"],
                                               clock.now_ms()) for d in refused])
        self._spill([d for d in pending if d["_id"] not in rejected], f"gave up after {self.max_retry_s:.0f}s")

    def _reconcile(self, pending: list[dict[str, Any]], stamps: set[datetime]) -> list[dict[str, Any]]:
        """After a lost attempt: which of ``pending`` are stored, by us (our stamp) or before us (duplicates)."""
        ours = {s.replace(tzinfo=None) for s in stamps}
        found = {d["_id"]: d.get("ingest_time") for d in
                 self.tx.find({"_id": {"$in": [d["_id"] for d in pending]}}, {"ingest_time": 1})}
        for stamp in found.values():
            if isinstance(stamp, datetime) and stamp.replace(tzinfo=None) in ours:
                self.counts.inserted += 1
            else:
                self.counts.duplicate += 1
        return [d for d in pending if d["_id"] not in found]

    def _bulk_outcome(self, pending: list[dict[str, Any]],
                      exc: BulkWriteError) -> tuple[list[dict[str, Any]], dict[Any, str]]:
        """Count inserted and duplicate documents; return the refused ones (to retry) and why."""
        self.counts.inserted += int(exc.details.get("nInserted", 0))
        retry, reasons = [], {}
        for error in exc.details.get("writeErrors", []):
            if error.get("code") == DUPLICATE_KEY:
                self.counts.duplicate += 1
            else:
                doc = pending[error["index"]]
                retry.append(doc)
                reasons[doc["_id"]] = str(error.get("errmsg"))
        return retry, reasons

    def _insert_dead(self, docs: list[dict[str, Any]]) -> None:
        attempt, started = 0, time.monotonic()
        while True:
            try:
                self.dead.insert_many(docs, ordered=False)  # pymongo sets each _id in place: retries dedupe
                self.counts.dead_lettered += len(docs)
                return
            except BulkWriteError as exc:
                errors = exc.details.get("writeErrors", [])
                ours = [e for e in errors if e.get("code") == DUPLICATE_KEY]  # stored by a lost attempt
                self.counts.dead_lettered += int(exc.details.get("nInserted", 0)) + len(ours)
                others = [docs[e["index"]] for e in errors if e.get("code") != DUPLICATE_KEY]
                if others:
                    self._spill([d["record"] for d in others], "dead-letter insert rejected", dead=True)
                return
            except RETRYABLE as exc:
                if not self._backoff(attempt, started, exc):
                    self._spill([d["record"] for d in docs], f"gave up after {self.max_retry_s:.0f}s", dead=True)
                    return
                attempt += 1

    def _spill(self, docs: list[dict[str, Any]], why: str, dead: bool = False) -> None:
        """Keep what could not be stored in a local JSON-lines file (never dropped) and count it as failed."""
        self.counts.failed += len(docs)
        if self.spill_path is None or not docs:
            self.echo(f"paylake generate: {len(docs)} records failed ({why})")
            return
        self.spill_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.spill_path, "a") as out:
            for doc in docs:
                record = doc if dead else schema.from_mongo(doc)
                out.write(json.dumps({"record": record, "reason": why}, default=str) + "\n")
        self.echo(f"paylake generate: {len(docs)} records failed ({why}); kept in {self.spill_path}")

