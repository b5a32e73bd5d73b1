"""The paced emitter: on time it sends its 0.5-s batches; behind its clock, one insert carries what is due."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

from paylake.generator.stream import Clock, _paced

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _records(*seconds: float) -> list[dict[str, Any]]:
    return [{"_t": BASE.timestamp() + s} for s in seconds]


def _offsets(batch: list[dict[str, Any]]) -> list[float]:
    return [round(r["_t"] - BASE.timestamp(), 3) for r in batch]


def test_behind_its_clock_an_insert_carries_every_record_already_due() -> None:
    clock = Clock(BASE, 1.0, paced=True)
    clock.wall0 -= 10.0  # the server held the last inserts: the clock is 10 s past the stream's start
    buffer = _records(*range(20))  # one record a second
    batch, rest = _paced(buffer[:2], buffer[2:], clock, threading.Event(), room=100)
    assert _offsets(batch) == list(range(11))  # 0-10 s are due, 11 s is not
    assert _offsets(rest) == list(range(11, 20))


def test_the_catch_up_stops_at_the_room_left_in_the_batch() -> None:
    clock = Clock(BASE, 1.0, paced=True)
    clock.wall0 -= 10.0
    buffer = _records(*range(20))
    batch, rest = _paced(buffer[:2], buffer[2:], clock, threading.Event(), room=3)
    assert _offsets(batch) == [0, 1, 2, 3, 4]
    assert len(batch) + len(rest) == 20  # nothing dropped


def test_on_time_it_waits_for_the_batch_and_sends_nothing_early() -> None:
    clock = Clock(BASE, 1.0, paced=True)
    buffer = _records(0.05, 0.1, 5.0, 6.0)
    batch, rest = _paced(buffer[:2], buffer[2:], clock, threading.Event(), room=100)
    assert _offsets(batch) == [0.05, 0.1]
    assert time.monotonic() >= clock.due(batch[-1]["_t"])  # it waited for the batch's last record
    assert _offsets(rest) == [5.0, 6.0]
