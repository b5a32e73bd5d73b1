"""Redis connections for the jobs and commands: short timeouts, and the URL as it may appear in a message.

Redis is a cache here: a job that cannot reach it must fail (or, for side feeds, warn) within seconds,
not hang a task until its execution timeout.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse

import redis

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
SOCKET_TIMEOUT_S = 10.0


def redacted(url: str) -> str:
    """The Redis URL without its password, fit for a log line or an error message."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=f"{parsed.username or ''}:***@{parsed.hostname}:{parsed.port}").geturl()


def connect(
    redis_url: str,
    decode_responses: bool = False,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    socket_timeout_s: float = SOCKET_TIMEOUT_S,
) -> redis.Redis:
    """A client with short timeouts; connecting is lazy, so this never fails for a down server. A client
    idle for 30 s pings before its next command (a long-lived one, like the dashboard's, survives restarts)."""
    return redis.Redis.from_url(
        redis_url,
        decode_responses=decode_responses,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=socket_timeout_s,
        health_check_interval=30,
    )


@contextmanager
def side_feed(redis_url: str, what: str) -> Iterator[redis.Redis]:
    """A client for a best-effort write that only feeds the dashboard: a Redis outage is logged, naming
    ``what``, and does not fail the job that writes it."""
    client = connect(redis_url)
    try:
        yield client
    except redis.RedisError as exc:
        log.warning("could not %s in Redis %s: %s", what, redacted(redis_url), exc)
    finally:
        client.close()
