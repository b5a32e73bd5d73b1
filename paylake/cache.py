"""Redis connections for the jobs and commands: short timeouts, and the URL as it may appear in a message.

Redis is a cache here: a job that cannot reach it must fail (or, for side feeds, warn) within seconds,
not hang a task until its execution timeout.
"""

from __future__ import annotations

from urllib.parse import urlparse

import redis

CONNECT_TIMEOUT_S = 5
SOCKET_TIMEOUT_S = 10


def redacted(url: str) -> str:
    """The Redis URL without its password, fit for a log line or an error message."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    return parsed._replace(netloc=f"{parsed.username or ''}:***@{parsed.hostname}:{parsed.port}").geturl()


def connect(redis_url: str, decode_responses: bool = False) -> redis.Redis:
    """A client with short timeouts; connecting is lazy, so this never fails for a down server."""
    return redis.Redis.from_url(
        redis_url,
        decode_responses=decode_responses,
        socket_connect_timeout=CONNECT_TIMEOUT_S,
        socket_timeout=SOCKET_TIMEOUT_S,
    )
