"""An example webhook receiver: `paylake alerts receiver [--host H] [--port P]` (standard library only).

It takes POSTs of paylake's batches (``{"alerts": [{"idempotency_key": …, …}, …]}``, any path), prints each
alert as one JSON line the first time its idempotency key arrives and drops repeats, and answers 200 with
``{"received": n, "new": k, "repeats": r}``; 400 for a body that is not such a batch. GET answers
``{"alerts": <distinct keys seen>}`` (a health check). The keys live in memory: a real receiver keeps them
durably, with the effect it takes for each alert (and as long as a sender may retry: here, for ever).
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TextIO

MAX_BODY = 16 * 1024 * 1024  # 100 alerts are ~25 KB; refuse anything absurd instead of reading it


def parse_alerts(body: bytes) -> list[dict[str, Any]]:
    """The alerts of a batch body; ValueError saying what is wrong otherwise."""
    try:
        data = json.loads(body)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ValueError(f"not JSON: {exc}") from exc
    alerts = data.get("alerts") if isinstance(data, dict) else None
    if not isinstance(alerts, list):
        raise ValueError('expected {"alerts": [...]}')
    for alert in alerts:
        if not isinstance(alert, dict) or not isinstance(alert.get("idempotency_key"), str):
            raise ValueError("every alert needs a string idempotency_key")
    return alerts


class Receiver:
    """The keys seen so far and where new alerts are printed; safe to share between handler threads."""

    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.seen: set[str] = set()
        self._lock = threading.Lock()

    def take(self, alerts: list[dict[str, Any]]) -> tuple[int, int]:
        """Print the alerts whose key is new; return (new, repeats)."""
        new = 0
        with self._lock:
            for alert in alerts:
                if alert["idempotency_key"] in self.seen:
                    continue
                self.seen.add(alert["idempotency_key"])
                self.out.write(json.dumps(alert) + "\n")
                new += 1
            self.out.flush()
        return new, len(alerts) - new


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        declared = self.headers.get("Content-Length", "")
        length = int(declared) if declared.isdigit() else 0
        if not 0 < length <= MAX_BODY:
            self._answer(411 if not length else 413, {"error": "a Content-Length up to 16 MB is required"})
            return
        try:
            alerts = parse_alerts(self.rfile.read(length))
        except ValueError as exc:
            self._answer(400, {"error": str(exc)})
            return
        new, repeats = self.server.receiver.take(alerts)
        self._answer(200, {"received": len(alerts), "new": new, "repeats": repeats})

    def do_GET(self) -> None:
        self._answer(200, {"alerts": len(self.server.receiver.seen)})

    def _answer(self, status: int, data: dict[str, Any]) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # to stderr: stdout carries the alerts
        sys.stderr.write(f"receiver: {self.address_string()} {format % args}\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        super().__init__(address, _Handler)
        self.receiver = receiver


def make_server(host: str, port: int, out: TextIO = sys.stdout) -> ThreadingHTTPServer:
    """A receiver bound to (host, port), not serving yet: call ``serve_forever`` (in a thread, for tests)."""
    return _Server((host, port), Receiver(out))
