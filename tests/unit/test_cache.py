"""Redis clients: a password never reaches a message, and a dashboard feed survives a Redis outage."""

import logging

import pytest

from paylake import cache
from paylake.stack.process import free_port


def test_redacted_hides_only_the_password() -> None:
    assert cache.redacted("redis://user:s3cret@cache:6380/1") == "redis://user:***@cache:6380/1"
    assert cache.redacted("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_a_side_feed_logs_a_redis_outage_instead_of_raising(caplog: pytest.LogCaptureFixture) -> None:
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"  # nothing listens there
    reached_the_end = False
    with caplog.at_level(logging.WARNING, logger="paylake.cache"), cache.side_feed(url, "record a figure") as client:
        client.set("k", "v")
        reached_the_end = True
    assert not reached_the_end
    assert "could not record a figure in Redis redis://:***@127.0.0.1:" in caplog.text
    assert "s3cret" not in caplog.text


def test_other_errors_in_a_side_feed_are_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError), cache.side_feed(f"redis://127.0.0.1:{free_port()}/0", "divide"):
        1 / 0  # noqa: B018
