"""Fraud alerts to a webhook against the real servers and a real HTTP receiver: every alert the KPI job stores
reaches the receiver exactly once per idempotency key, across a receiver outage, KPI job crashes and a
deliverer crash between the receiver's 2xx and the mark."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from typing import Any

import pytest
from factories import make_records
from kpi_truth import insert, seed_dimensions

from paylake import names
from paylake.faults import FAULT_ENV, InjectedFault
from paylake.kpi import alerts
from paylake.kpi.job import run_refresh
from paylake.stack.process import free_port
from paylake.webhook import deliver, outbox, wire
from paylake.webhook.receiver import Receiver

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
AMOUNT = 5000.0  # far above 4 × the expected amount (median 40 × spend index 1.1): every row is flagged


class Recorder:
    """A real receiver on a free port: records every POST (answer, body, batch key) and answers ``status``
    (503 stands for an outage) after ``delay_s``."""

    def __init__(self) -> None:
        self.status, self.delay_s = 200, 0.0
        self.requests: list[tuple[int, dict[str, Any], str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = recorder.status
                time.sleep(recorder.delay_s)
                recorder.requests.append((status, body, self.headers["Idempotency-Key"]))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def accepted(self) -> list[dict[str, Any]]:
        """Every alert of every acknowledged (2xx) request, repeats included, in arrival order."""
        return [alert for status, body, _key in self.requests if status < 300 for alert in body["alerts"]]

    def failed(self) -> int:
        return sum(status >= 300 for status, _body, _key in self.requests)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    receiver = Recorder()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def stored_keys(db: Any) -> set[str]:
    return {wire.idempotency_key(doc["_id"]) for doc in db[names.ALERTS].find({}, {"_id": 1})}


def test_every_alert_reaches_the_webhook_once_per_key_across_an_outage_and_crashes(  # type: ignore[no-untyped-def]
    spark, settings, mongo_db, recorder, monkeypatch
) -> None:
    settings = settings.with_overrides(alert_webhook=f"{recorder.url}?token=s3cret", alert_batch_max=7)
    seed_dimensions(mongo_db)

    # The receiver is down (503) during a refresh and two delivery attempts, then unreachable (a closed port).
    recorder.status = 503
    insert(mongo_db, make_records(30, T0, prefix="a", amount=AMOUNT))
    assert run_refresh(spark, settings).new_alerts == 30
    assert recorder.requests == []  # the refresh only queues: it never waits for the receiver
    for _ in range(2):
        with pytest.raises(wire.WebhookError, match="answered 503") as failure:
            deliver.deliver(settings)
        assert "s3cret" not in str(failure.value)
    with pytest.raises(wire.WebhookError, match="unreachable"):
        deliver.deliver(settings.with_overrides(alert_webhook=f"http://127.0.0.1:{free_port()}/hook"))
    assert outbox.backlog(mongo_db).pending == 30 and recorder.accepted() == []

    # The KPI job dies right after storing the next alerts: they are queued with them.
    insert(mongo_db, make_records(20, T0 + timedelta(minutes=10), prefix="b", amount=AMOUNT))
    monkeypatch.setenv(FAULT_ENV, "alerts")
    with pytest.raises(InjectedFault):
        run_refresh(spark, settings)
    assert outbox.backlog(mongo_db).pending == 50

    # The receiver is back: the backlog goes out, the crashed run's alerts too; the redo queues nothing again.
    recorder.status = 200
    monkeypatch.delenv(FAULT_ENV)
    assert deliver.deliver(settings) == 50
    redo = run_refresh(spark, settings)
    assert redo.resumed and redo.new_alerts == 0 and outbox.backlog(mongo_db).pending == 0

    # The KPI job dies after its watermark moved (Redis not published), then the deliverer dies between the
    # receiver's 2xx for the first batch and marking it delivered.
    insert(mongo_db, make_records(15, T0 + timedelta(minutes=20), prefix="c", amount=AMOUNT))
    monkeypatch.setenv(FAULT_ENV, "publish")
    with pytest.raises(InjectedFault):
        run_refresh(spark, settings)
    monkeypatch.setenv(FAULT_ENV, "posted")
    with pytest.raises(InjectedFault):
        deliver.deliver(settings)
    assert outbox.backlog(mongo_db).pending == 15 and len(recorder.accepted()) == 50 + 7
    monkeypatch.delenv(FAULT_ENV)
    assert run_refresh(spark, settings).new_alerts == 0
    assert deliver.deliver(settings) == 15

    keys = [alert["idempotency_key"] for alert in recorder.accepted()]
    assert set(keys) == stored_keys(mongo_db) and len(set(keys)) == 65 == mongo_db[names.ALERTS].count_documents({})
    assert len(keys) == 65 + 7  # only the batch whose mark was lost came twice, with the same keys and batch key
    acknowledged = [key for status, _body, key in recorder.requests if status < 300]
    assert len(acknowledged) == len(set(acknowledged)) + 1
    first = {}
    for alert in recorder.accepted():  # a repeat carries the very same alert
        assert first.setdefault(alert["idempotency_key"], alert) == alert
    assert {a["amount"] for a in first.values()} == {AMOUNT} and all(a["rules"] for a in first.values())
    assert outbox.backlog(mongo_db) == outbox.Backlog(0, None)
    assert mongo_db[names.ALERTS].count_documents({outbox.DELIVERED: {"$exists": True}}) == 65

    # The example receiver, fed every request the deliverer made, prints each alert once.
    printed = StringIO()
    example = Receiver(printed)
    for status, body, _key in recorder.requests:
        if status < 300:
            example.take(body["alerts"])
    assert sorted(json.loads(line)["idempotency_key"] for line in printed.getvalue().splitlines()) == sorted(set(keys))


def _alert(i: int) -> dict[str, Any]:
    moment = T0 + timedelta(seconds=i)
    return {"_id": f"tx{i:05d}", "event_time": moment, "ingest_time": moment, "customer_id": "C00001",
            "merchant_id": "M00001", "amount": 100.0 + i, "rules": ["amount"], "is_fraud": i % 2 == 0, "run_id": "r"}


def _wait_for(check: Any, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_two_followers_back_off_through_an_outage_and_deliver_each_alert_once(settings, mongo_db, recorder) -> None:  # type: ignore[no-untyped-def]
    settings = settings.with_overrides(alert_webhook=recorder.url, alert_batch_max=10)
    recorder.status = 503
    assert len(alerts.store(mongo_db, [_alert(i) for i in range(45)], webhook=True)) == 45
    stop = threading.Event()
    followers = [threading.Thread(target=deliver.follow, args=(settings, stop),
                                  kwargs={"poll_s": 0.05, "backoff": (0.05, 0.4)}) for _ in range(2)]
    for follower in followers:
        follower.start()
    try:
        _wait_for(lambda: recorder.failed() >= 6)
        assert outbox.backlog(mongo_db).pending == 45
        recorder.status = 200
        _wait_for(lambda: outbox.backlog(mongo_db).pending == 0)
        alerts.store(mongo_db, [_alert(i) for i in range(40, 52)], webhook=True)  # 5 stored before: skipped
        _wait_for(lambda: outbox.backlog(mongo_db).pending == 0 and len(recorder.accepted()) >= 52)
    finally:
        stop.set()
        for follower in followers:
            follower.join(10)
    keys = [alert["idempotency_key"] for alert in recorder.accepted()]
    assert sorted(keys) == sorted(wire.idempotency_key(f"tx{i:05d}") for i in range(52))  # the lock: no repeats
    assert all(not follower.is_alive() for follower in followers)


def test_a_hanging_receiver_times_out_and_keeps_the_alerts_queued(settings, mongo_db, recorder) -> None:  # type: ignore[no-untyped-def]
    settings = settings.with_overrides(alert_webhook=recorder.url)
    alerts.store(mongo_db, [_alert(i) for i in range(3)], webhook=True)
    recorder.delay_s = 3.0
    started = time.monotonic()
    with pytest.raises(wire.WebhookError, match="did not answer within 0.5 s"):
        deliver.deliver(settings, functools.partial(wire.post, timeout_s=0.5))
    assert time.monotonic() - started < 2.5
    assert outbox.backlog(mongo_db).pending == 3
    recorder.delay_s = 0.0
    assert deliver.deliver(settings) == 3 and outbox.backlog(mongo_db).pending == 0
