"""What goes over the wire to PAYLAKE_ALERT_WEBHOOK: the JSON batch, its keys, one POST, and the backoff.

Body: ``{"alerts": [{"idempotency_key": "alert:<transaction id>", "transaction_id", "event_time",
"customer_id", "merchant_id", "amount", "rules", "is_fraud"}, …]}``, with an ``Idempotency-Key`` header for
the batch. An alert's key is derived from its transaction id, which is the alert's identity (``alerts`` is
keyed by it and a redone refresh keeps the first copy), so every retry, deliverer restart or KPI redo sends the
same key for the same alert: the receiver drops repeats by it. The batch key is a digest of the batch's alert
keys: the same batch retried carries the same key, a batch that gained alerts meanwhile a new one.
"""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlparse

from paylake.errors import ServiceError
from paylake.kpi.alerts import public

TIMEOUT_S = 10.0  # per connect and per read: a receiver that hangs costs the deliverer this, never the KPI job
USER_AGENT = "paylake-alerts/1"
# (url, body, batch key) → returns on a 2xx, raises WebhookError otherwise; tests pass their own.
Poster = Callable[[str, bytes, str], None]


class WebhookError(ServiceError):
    """The receiver did not acknowledge a batch (down, refused, timed out, not a 2xx): it stays queued."""


def idempotency_key(transaction_id: str) -> str:
    return f"alert:{transaction_id}"


def batch_key(keys: Sequence[str]) -> str:
    return "batch:" + hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:32]


def payload(docs: Sequence[dict[str, Any]]) -> tuple[bytes, str]:
    """The JSON body for ``docs`` (alert documents) and its batch key."""
    alerts = [{"idempotency_key": idempotency_key(doc["_id"]), **public(doc)} for doc in docs]
    body = json.dumps({"alerts": alerts}, separators=(",", ":")).encode()
    return body, batch_key([a["idempotency_key"] for a in alerts])


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failure: urllib would follow it with a GET without the body, whose 2xx would then mark
    alerts delivered that nobody received."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def post(url: str, body: bytes, key: str, timeout_s: float = TIMEOUT_S) -> None:
    """POST one batch; return on a 2xx, raise WebhookError on anything else."""
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": key, "User-Agent": USER_AGENT})
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(65536)  # drain a little, so the connection closes cleanly
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"webhook {shown(url)} answered {exc.code} {exc.reason}") from exc
    except TimeoutError as exc:
        raise WebhookError(f"webhook {shown(url)} did not answer within {timeout_s:g} s") from exc
    except (urllib.error.URLError, OSError) as exc:  # refused, DNS, TLS
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"webhook {shown(url)} unreachable: {reason}") from exc
    if not 200 <= status < 300:
        raise WebhookError(f"webhook {shown(url)} answered {status}")


def shown(url: str) -> str:
    """The URL fit for a log line: no user, password, query or fragment (a token often sits in one)."""
    where = urlparse(url)
    host = f"{where.hostname}:{where.port}" if where.port else str(where.hostname)
    return f"{where.scheme}://{host}{where.path}"


def backoff_s(failures: int, base_s: float = 1.0, cap_s: float = 60.0) -> float:
    """The wait after ``failures`` failed attempts in a row: base, 2·base, 4·base, … up to ``cap_s``. One
    deliverer per store, so no jitter is needed to spread a crowd."""
    if failures <= 0:
        return 0.0
    return float(min(cap_s, base_s * 2 ** min(failures - 1, 32)))
