"""The alert webhook's pure parts: payload and keys, backoff, URL checks and redaction, and the example
receiver and the POST over loopback HTTP (no stores needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer
from io import StringIO
from typing import Any

import pytest

from paylake.settings import SettingsError, load_settings
from paylake.webhook import outbox, wire
from paylake.webhook.receiver import Receiver, make_server, parse_alerts

EVENT = datetime(2026, 3, 1, 10, 0, 5, tzinfo=UTC)


def _doc(tx: str, **extra: Any) -> dict[str, Any]:
    return {"_id": tx, "event_time": EVENT, "customer_id": "C1", "merchant_id": "M1", "amount": 912.5,
            "rules": ["amount", "odd_hour"], "is_fraud": True, outbox.QUEUED: EVENT, **extra}


def test_payload_carries_each_alert_with_its_idempotency_key() -> None:
    body, key = wire.payload([_doc("tx1"), _doc("tx2", event_time=EVENT.astimezone(timezone(timedelta(hours=2))))])
    alerts = json.loads(body)["alerts"]
    assert alerts[0] == {"idempotency_key": "alert:tx1", "transaction_id": "tx1",
                         "event_time": "2026-03-01T10:00:05+00:00", "customer_id": "C1", "merchant_id": "M1",
                         "amount": 912.5, "rules": ["amount", "odd_hour"], "is_fraud": True}
    assert alerts[1]["event_time"] == "2026-03-01T10:00:05+00:00"  # always UTC
    assert key.startswith("batch:") and len(key) == 6 + 32


def test_batch_key_names_the_set_of_alerts() -> None:
    _, key = wire.payload([_doc("tx1"), _doc("tx2")])
    assert wire.payload([_doc("tx2"), _doc("tx1")])[1] == key  # the same batch, retried in any order
    assert wire.payload([_doc("tx1"), _doc("tx2"), _doc("tx3")])[1] != key


def test_backoff_doubles_up_to_its_cap() -> None:
    assert [wire.backoff_s(n) for n in range(9)] == [0, 1, 2, 4, 8, 16, 32, 60, 60]
    assert wire.backoff_s(3, base_s=0.5, cap_s=1.5) == 1.5
    assert wire.backoff_s(10_000) == 60  # no overflow after a long outage


def test_urls_in_messages_lose_their_secrets() -> None:
    assert wire.shown("https://bot:pw@hooks.example:8443/p/x?token=abc#f") == "https://hooks.example:8443/p/x"
    assert wire.shown("http://127.0.0.1/hook") == "http://127.0.0.1/hook"


@pytest.mark.parametrize("url", ["ftp://x/hook", "localhost:8999", "http://", "hooks.example/x"])
def test_a_webhook_must_be_an_http_url(url: str) -> None:
    with pytest.raises(SettingsError, match="PAYLAKE_ALERT_WEBHOOK"):
        load_settings({"PAYLAKE_ALERT_WEBHOOK": url})


def test_webhook_settings() -> None:
    assert load_settings({}).alert_webhook == ""  # off
    settings = load_settings({"PAYLAKE_ALERT_WEBHOOK": "https://h.example/a?t=1", "PAYLAKE_ALERT_BATCH_MAX": "25"})
    assert (settings.alert_webhook, settings.alert_batch_max) == ("https://h.example/a?t=1", 25)
    with pytest.raises(SettingsError, match="PAYLAKE_ALERT_BATCH_MAX"):
        load_settings({"PAYLAKE_ALERT_BATCH_MAX": "0"})


def test_backlog_age() -> None:
    now = EVENT + timedelta(seconds=90)
    assert outbox.Backlog(3, EVENT).age_s(now) == 90
    assert outbox.Backlog(0, None).age_s(now) == 0


def test_receiver_prints_each_key_once() -> None:
    out = StringIO()
    receiver = Receiver(out)
    first = [{"idempotency_key": "alert:a", "amount": 1.0}, {"idempotency_key": "alert:b", "amount": 2.0}]
    assert receiver.take(first) == (2, 0)
    assert receiver.take([first[1], {"idempotency_key": "alert:c"}]) == (1, 1)
    printed = [json.loads(line)["idempotency_key"] for line in out.getvalue().splitlines()]
    assert printed == ["alert:a", "alert:b", "alert:c"]


@pytest.mark.parametrize("body", [b"nope", b"[]", b'{"alerts": {}}', b'{"alerts": [{"amount": 1}]}', b"\xff"])
def test_receiver_refuses_what_is_not_a_batch(body: bytes) -> None:
    with pytest.raises(ValueError):
        parse_alerts(body)


@pytest.fixture
def example_receiver() -> Iterator[tuple[str, StringIO]]:
    out = StringIO()
    server = make_server("127.0.0.1", 0, out)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", out
    server.shutdown()
    server.server_close()


def test_post_to_the_example_receiver_and_repeats_are_dropped(example_receiver: tuple[str, StringIO]) -> None:
    url, out = example_receiver
    body, key = wire.payload([_doc("tx1"), _doc("tx2")])
    wire.post(url, body, key)
    wire.post(url, body, key)  # at least once: the same batch again
    assert [json.loads(line)["transaction_id"] for line in out.getvalue().splitlines()] == ["tx1", "tx2"]
    with pytest.raises(wire.WebhookError, match="answered 400"):
        wire.post(url, b'{"alerts": [{"no": "key"}]}', "batch:x")


def test_a_redirect_is_a_failure() -> None:
    """urllib would follow it with a GET and no body: a 2xx there must not count as delivered."""

    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(wire.WebhookError, match="302"):
            wire.post(f"http://127.0.0.1:{server.server_address[1]}/hook", b'{"alerts": []}', "batch:x")
    finally:
        server.shutdown()
        server.server_close()
