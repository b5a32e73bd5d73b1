"""The job lock: a live holder keeps it; a holder that died on this host loses it at once."""

from __future__ import annotations

import os
import socket
import subprocess
from datetime import timedelta
from typing import Any

import pytest

from paylake import names
from paylake.clock import now
from paylake.lock import Lock, LockBusy

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
