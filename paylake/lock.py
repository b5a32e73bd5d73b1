"""A job lock in MongoDB (``locks``): two runs of one job never overlap, whoever starts them.

Airflow's ``max_active_runs=1`` covers the scheduler; the lock also covers the CLI and a second Airflow.
A holder that died leaves its lock behind: it is taken over once ``expires_at`` has passed, or at once when
the holder ran on this host and its process is gone (a job killed by `make down` or a task timeout). The
holder renews it between steps, so a long but healthy run keeps it. A job may declare a ``lock_wait``: its
run then waits that long for a held lock before it gives up (LockBusy).
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import timedelta
from typing import Any

from pymongo import ReturnDocument
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from paylake import names
from paylake.clock import now
from paylake.errors import ServiceError
from paylake.jobs import Job

log = logging.getLogger(__name__)
WAIT_POLL_S = 2.0  # how often a waiting run tries the lock again


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def holder_is_dead(owner: str) -> bool:
    """Whether ``owner`` (``host:pid:token``) names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))


def new_owner() -> str:
    """A name for this process's claim (``host:pid:token``) that ``holder_is_dead`` can check."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


class LockBusy(ServiceError):
    """Another run holds the lock."""


class Lock:
    def __init__(self, db: Database[Any], name: str, ttl: timedelta) -> None:
        self.coll = db[names.LOCKS]
        self.name = name
        self.ttl = ttl
        self.owner = new_owner()
        self.waited_s = 0.0  # how long acquire_within waited for another run to release it

    def acquire(self) -> None:
        moment = now()
        doc = {"_id": self.name, "owner": self.owner, "acquired_at": moment, "expires_at": moment + self.ttl}
        try:
            self.coll.insert_one(doc)
            return
        except DuplicateKeyError:
            pass
        # Take over only a stale lock; the filter makes the take-over atomic between two contenders.
        stale: dict[str, Any] = {"expires_at": {"$lt": moment}}
        current = self.coll.find_one({"_id": self.name}) or {}
        if holder_is_dead(str(current.get("owner", ""))):
            stale = {"owner": current["owner"]}
        taken = self.coll.find_one_and_update(
            {"_id": self.name, **stale},
            {"$set": {k: v for k, v in doc.items() if k != "_id"}},
            return_document=ReturnDocument.AFTER,
        )
        if not taken or taken.get("owner") != self.owner:
            held = self.coll.find_one({"_id": self.name}) or {}
            raise LockBusy(
                f"{self.name} lock is held by {held.get('owner')} until {held.get('expires_at')}: another run is active"
            )

    def renew(self) -> None:
        self.coll.update_one({"_id": self.name, "owner": self.owner}, {"$set": {"expires_at": now() + self.ttl}})

    def release(self) -> None:
        self.coll.delete_one({"_id": self.name, "owner": self.owner})


def acquire_within(lock: Lock, wait: timedelta) -> None:
    """Acquire ``lock``, trying again for up to ``wait`` while another run holds it; then LockBusy."""
    began = time.monotonic()
    while True:
        try:
            lock.acquire()
            break
        except LockBusy as busy:
            left = wait.total_seconds() - (time.monotonic() - began)
            if left <= 0:
                raise
            if not lock.waited_s:
                log.info("%s; waiting up to %.0f s for it", busy, wait.total_seconds())
            time.sleep(min(WAIT_POLL_S, left))
            lock.waited_s = time.monotonic() - began
    if lock.waited_s:
        log.info("%s lock acquired after waiting %.1f s", lock.name, lock.waited_s)


@contextmanager
def held(db: Database[Any], name: str, ttl: timedelta, wait: timedelta = timedelta(0)) -> Iterator[Lock]:
    lock = Lock(db, name, ttl)
    acquire_within(lock, wait)
    try:
        yield lock
    finally:
        lock.release()


def job_lock(db: Database[Any], job: Job) -> AbstractContextManager[Lock]:
    """The lock of a declared job: its name, a TTL that outlasts its task's timeout, and its wait."""
    return held(db, job.name, job.lock_ttl, job.lock_wait)
