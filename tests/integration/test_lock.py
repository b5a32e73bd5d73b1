"""The job lock: a live holder keeps it; a holder that died on this host loses it at once."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from paylake import names
from paylake.clock import now
from paylake.jobs import DAILY_MARTS
from paylake.lock import Lock, LockBusy, acquire_within, job_lock

TTL = timedelta(hours=2)


def _hold(db: Any, owner: str) -> None:
    moment = now()
    db[names.LOCKS].insert_one(
        {"_id": "job", "owner": owner, "acquired_at": moment, "expires_at": moment + timedelta(hours=2)}
    )


def test_a_killed_holder_on_this_host_does_not_block_for_hours(mongo_db: Any) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    _hold(mongo_db, f"{socket.gethostname()}:{dead.pid}:token")
    lock = Lock(mongo_db, "job", TTL)
    lock.acquire()
    assert mongo_db[names.LOCKS].find_one({"_id": "job"})["owner"] == lock.owner


def test_a_live_holder_keeps_the_lock(mongo_db: Any) -> None:
    _hold(mongo_db, f"{socket.gethostname()}:{os.getpid()}:token")
    with pytest.raises(LockBusy, match="job lock is held"):
        Lock(mongo_db, "job", TTL).acquire()


def test_a_daily_marts_run_waits_for_the_lock_another_run_holds(mongo_db: Any) -> None:
    """Two dates' builds started together (a backfill beside the scheduled run): the second waits, then runs."""
    first = Lock(mongo_db, DAILY_MARTS.name, DAILY_MARTS.lock_ttl)
    first.acquire()
    threading.Timer(1.5, first.release).start()
    began = time.monotonic()
    with job_lock(mongo_db, DAILY_MARTS) as second:
        assert mongo_db[names.LOCKS].find_one({"_id": DAILY_MARTS.name})["owner"] == second.owner
        assert second.waited_s > 0
    assert time.monotonic() - began >= 1.0  # it did wait for the release, not take a live holder's lock


def test_a_wait_that_runs_out_says_who_holds_the_lock(mongo_db: Any) -> None:
    _hold(mongo_db, f"{socket.gethostname()}:{os.getpid()}:token")
    began = time.monotonic()
    with pytest.raises(LockBusy, match="job lock is held"):
        acquire_within(Lock(mongo_db, "job", TTL), timedelta(seconds=1))
    assert 1.0 <= time.monotonic() - began < 5.0
