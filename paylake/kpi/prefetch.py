"""A loop's next read, done while the current refresh computes and writes: the pipelined KPI loop.

A refresh is serial: the driver reads its range (pymongo; FerretDB decodes every document in its own process),
then Spark computes, then the writes. At 2,000 tx/s the loop fell behind at 65 % CPU (README, "Scale"): each
stage waited for the other. So once refresh N knows its upper bound U (the largest ingest time it read), a
thread reads what comes after U (pymongo releases the GIL on socket I/O) while N computes, writes and waits
for its next tick; refresh N+1 takes those rows instead of reading them.

Exactly-once is unchanged: the thread reads in steps, each (the previous step's largest ingest time, a bound]
with the refresh's own bound (the clock minus the allowed lateness, below any insert in flight), and the last
step, taken at N+1's start, reaches N+1's own bound; together they are the one read N+1 would have made.
Refresh N+1 uses them only if they assumed nothing that changed: no pending redo, the stored watermark is U
and the loop still trusts its cache (``job._take_prefetched``); any failure of a refresh discards them
(``job.run_refresh``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pymongo.database import Database

from paylake.kpi import reads
from paylake.kpi.customers import KnownCustomers
from paylake.mongo import open_db
from paylake.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

# Seconds between the thread's steps while the refresh it overlaps is still busy: each step is one indexed
# query, cheap at any rate, and keeps the read that is left for the next refresh's start small.
STEP_S = 1.0


@dataclass
class Prefetched:
    """The rows after ``lower`` read so far, and the customers of theirs that the loop had not met."""

    lower: datetime  # the refresh's upper bound the thread started after (exclusive)
    tables: list[pa.Table] = field(default_factory=list)
    upper: datetime | None = None  # the largest ingest time read; None while nothing is
    customer_ids: set[str] = field(default_factory=set)
    fetched: list[tuple[list[str], pa.Table]] = field(default_factory=list)  # customers looked up, found
    looked_up: set[str] = field(default_factory=set)  # every id in ``fetched``
    error: Exception | None = None  # why the read stopped early: the refresh then reads for itself

    def add(self, db: Database[Any], known: KnownCustomers, read: reads.HotRead) -> None:
        """One step's rows; their customers not met yet are fetched now too, off the refresh's path."""
        self.tables.append(read.table)
        if read.upper is None:
            return
        self.upper = read.upper
        missing = [i for i in known.missing(read.customer_ids) if i not in self.looked_up]
        self.customer_ids.update(read.customer_ids)
        if missing:  # ``known`` is the refresh's: only read here, merged by ``take`` on the refresh's thread
            self.fetched.append((missing, reads.customer_rows(db, missing)))
            self.looked_up.update(missing)

    def as_read(self) -> reads.HotRead:
        import pyarrow as pa

        if not self.tables:  # no step found its range open (the bound was still at ``lower``)
            return reads.hot_read_of([], None)
        return reads.HotRead(pa.concat_tables(self.tables), self.upper, sorted(self.customer_ids))


@dataclass
class _Signal:
    """How ``take`` or ``discard`` ends a read: a last step up to ``final``, or none (``abandon``)."""

    stop: threading.Event = field(default_factory=threading.Event)
    final: datetime | None = None
    abandon: bool = False


class Prefetcher:
    """One background read at a time for a loop; ``bound`` gives each step's inclusive upper limit, read on the
    step's connection (the loop's: ``reads.upper_bound`` of its clock; None: whatever is present)."""

    def __init__(self, settings: Settings, bound: Callable[[Database[Any]], datetime | None],
                 step_s: float = STEP_S) -> None:
        self.settings, self.bound, self.step_s = settings, bound, step_s
        self.thread: threading.Thread | None = None
        self.signal = _Signal()
        self.result: Prefetched | None = None
        # A refresh that starts at or after this (time.monotonic()) is the loop's last: nothing follows it.
        self.last_start: float | None = None
        self.started = 0  # reads started and taken: for tests and logs
        self.taken = 0

    def start(self, lower: datetime, known: KnownCustomers, refresh_started: float) -> None:
        """Read what comes after ``lower`` (the upper bound of a refresh started at ``refresh_started``, not
        committed yet) until ``take``; not after the loop's last refresh, whose next read would be dropped."""
        self.discard()
        if self.last_start is not None and refresh_started >= self.last_start:
            return
        self.signal, self.result = _Signal(), Prefetched(lower)
        self.thread = threading.Thread(target=self._run, args=(self.result, self.signal, known),
                                       name="kpi-prefetch", daemon=True)
        self.started += 1
        self.thread.start()

    def _run(self, into: Prefetched, signal: _Signal, known: KnownCustomers) -> None:
        try:
            with open_db(self.settings) as db:
                while not signal.abandon:
                    last = signal.stop.is_set()  # set by take: this step reaches the refresh's own bound
                    target = signal.final if last else self.bound(db)
                    since = into.upper or into.lower
                    if target is None or target > since:
                        read = reads.hot_read(db, since, since, target)
                        if signal.abandon:
                            return
                        into.add(db, known, read)
                    if last:
                        return
                    signal.stop.wait(self.step_s)
        except Exception as exc:  # noqa: BLE001 (any failure: the refresh then reads for itself)
            into.error = exc

    def take(self, lower: datetime, target: datetime | None, known: KnownCustomers) -> reads.HotRead | None:
        """The rows in (``lower``, ``target``] if the running read started at ``lower``, the customers it
        fetched added to ``known``; None (and nothing kept) otherwise, or when the read failed."""
        thread, result = self.thread, self.result
        if thread is None or result is None or result.lower != lower:
            self.discard()
            return None
        self.signal.final = target
        self.signal.stop.set()
        thread.join()
        self.thread, self.result = None, None
        if result.error is not None:
            log.warning("kpi: the prefetched read failed, reading again: %s", result.error)
            return None
        for looked_up, found in result.fetched:
            known.add(looked_up, found)
        self.taken += 1
        return result.as_read()

    def discard(self) -> None:
        """Forget the running read (a refresh failed, or the loop ends). Not waited for: a step under way can be
        a large range (a catch-up's), and what it reads is dropped with ``result``; it then ends."""
        self.signal.abandon = True
        self.signal.stop.set()
        self.thread, self.result = None, None
