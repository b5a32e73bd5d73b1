"""The deliverer: queued fraud alerts → PAYLAKE_ALERT_WEBHOOK, in batches, at least once.

`paylake alerts deliver` sends the backlog and exits (non-zero when the receiver fails); `--follow` keeps
polling (every POLL_S) and, on a failure, retries with exponential backoff (1 s doubling up to 60 s).

It runs as a process of its own (a demo service, a compose service), not as a thread of the KPI loop:
- the refresh only sets a field on the alerts it inserts anyway, so a receiver that is down, slow or
  hanging can never slow it, and no refresh waits for a thread's HTTP timeout to end its run;
- the KPI loop lives in 5-minute Airflow task runs; delivery then stopped with each task (and with each
  failed one) and shared its retries. On its own, delivery goes on while Airflow or Spark is down;
- MongoDB is the hand-over, so either side may crash or restart at any moment: an alert leaves the queue
  only after the receiver's 2xx (outbox.py). A crash between that 2xx and the mark sends the batch again,
  with the same idempotency keys, which the receiver drops.
A lock in MongoDB (taken only when there is a backlog: an idle poll is one indexed read) keeps two deliverers
from sending the same batch twice; were it lost, the keys would still make that harmless.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

from pymongo.database import Database
from pymongo.errors import PyMongoError

from paylake import clock, faults, indexes, names
from paylake.errors import UsageError
from paylake.lock import LockBusy, held
from paylake.mongo import open_db
from paylake.settings import Settings
from paylake.webhook import outbox, wire

log = logging.getLogger(__name__)

LOCK_NAME = "alert_delivery"
# Renewed after each batch (one POST, at most its timeout, and the mark: ~0.5 s for 100 alerts on FerretDB, far
# more on a loaded machine): only a dead holder's lock expires, and at once when it ran on this host.
LOCK_TTL = timedelta(minutes=5)
POLL_S = 2.0  # a new alert waits at most this long (plus the KPI refresh that raised it) before its POST
BACKOFF_BASE_S, BACKOFF_CAP_S = 1.0, 60.0


def _require_webhook(settings: Settings) -> None:
    if not settings.alert_webhook:
        raise UsageError("PAYLAKE_ALERT_WEBHOOK is not set: alerts are not queued for a webhook")


def drain(settings: Settings, db: Database[Any], post: wire.Poster = wire.post) -> int:
    """Send every queued alert, a batch at a time; return how many were acknowledged. Raises WebhookError
    (what was not acknowledged stays queued) or LockBusy (another deliverer is at it)."""
    if not outbox.next_batch(db, 1):  # idle: one read, no lock write
        return 0
    sent = 0
    with held(db, LOCK_NAME, LOCK_TTL) as lock:
        while batch := outbox.next_batch(db, settings.alert_batch_max):
            body, key = wire.payload(batch)
            post(settings.alert_webhook, body, key)
            faults.maybe_fail("posted")
            outbox.mark_delivered(db, [doc["_id"] for doc in batch], clock.now())
            sent += len(batch)
            lock.renew()
    return sent


def deliver(settings: Settings, post: wire.Poster = wire.post) -> int:
    """`paylake alerts deliver`: send the backlog once; return how many alerts were acknowledged."""
    _require_webhook(settings)
    with open_db(settings) as db:
        indexes.ensure(db, (names.ALERTS,))
        return drain(settings, db, post)


def follow(
    settings: Settings,
    stop: threading.Event,
    post: wire.Poster = wire.post,
    poll_s: float = POLL_S,
    backoff: tuple[float, float] = (BACKOFF_BASE_S, BACKOFF_CAP_S),
) -> None:
    """`paylake alerts deliver --follow`: deliver until ``stop`` is set; failures are logged and retried."""
    _require_webhook(settings)
    failures, ready = 0, False
    log.info("delivering alerts to %s", wire.shown(settings.alert_webhook))
    with open_db(settings) as db:  # opening connects lazily: a down MongoDB is met (and retried) in the loop
        while not stop.is_set():
            try:
                if not ready:  # here, not before the loop: MongoDB may be down when the deliverer starts
                    indexes.ensure(db, (names.ALERTS,))
                    ready = True
                sent = drain(settings, db, post)
            except LockBusy as exc:  # another deliverer is draining: look again at the next poll
                log.info("%s", exc)
            except (wire.WebhookError, PyMongoError) as exc:
                failures += 1
                wait = wire.backoff_s(failures, *backoff)
                log.warning("alert delivery failed (%d in a row), retrying in %.1f s: %s", failures, wait, exc)
                stop.wait(wait)
                continue
            else:
                if sent or failures:
                    log.info("delivered %d alerts%s", sent, f" after {failures} failed attempts" if failures else "")
                failures = 0
            stop.wait(poll_s)
