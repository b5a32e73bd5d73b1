"""Shared fixtures: the real servers (MongoDB wire protocol, Redis, HDFS) on free ports in a temp dir.

The stack is started once per test session, never the developer's running stack, and stopped at the end.
Each test gets its own MongoDB database, archive root and an empty Redis database.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from paylake.settings import Settings
from paylake.stack import manager
from paylake.stack.checkout import CHECKOUT

_AIRFLOW_HOMES: list[Path] = []  # removed when the session ends


def pytest_configure(config: pytest.Config) -> None:
    # Airflow reads its configuration at import time: point it at a private home before any test imports it.
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="paylake-airflow-"))
    _AIRFLOW_HOMES.append(home)
    os.environ["AIRFLOW_HOME"] = str(home)
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(CHECKOUT / "dags")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
    os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")


def pytest_unconfigure(config: pytest.Config) -> None:
    while _AIRFLOW_HOMES:
        shutil.rmtree(_AIRFLOW_HOMES.pop(), ignore_errors=True)


@pytest.fixture(scope="session")
def stack_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """Settings pointing at a private stack, started for this test session and stopped after it."""
    settings = manager.private_settings(tmp_path_factory.mktemp("stack"), mongo_db="paylake_test")
    manager.up(settings, echo=lambda _line: None)
    try:
        yield settings
    finally:
        manager.down(settings, echo=lambda _line: None)


@pytest.fixture
def settings(stack_settings: Settings) -> Iterator[Settings]:
    """Per-test settings: a fresh MongoDB database and archive root, and an empty Redis database."""
    import redis

    tag = uuid.uuid4().hex[:10]
    per_test = stack_settings.with_overrides(mongo_db=f"t_{tag}", cold_uri=f"{stack_settings.cold_uri}/t_{tag}")
    redis.Redis.from_url(per_test.redis_url).flushdb()
    yield per_test


@pytest.fixture
def mongo_db(settings: Settings):  # type: ignore[no-untyped-def]
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(settings.mongo_uri, tz_aware=True)
    yield client[settings.mongo_db]
    client.drop_database(settings.mongo_db)
    client.close()


@pytest.fixture
def redis_client(settings: Settings):  # type: ignore[no-untyped-def]
    import redis

    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def spark(stack_settings: Settings):  # type: ignore[no-untyped-def]
    """One SparkSession for the whole test session (a JVM start costs seconds)."""
    from paylake.spark import build_session

    session = build_session(stack_settings, "paylake-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def airflow_ready() -> None:
    """Airflow's metadata DB migrated and the DAGs serialized (dag.test() needs both), in a private home."""
    import subprocess
    import sys

    airflow = str(Path(sys.executable).parent / "airflow")
    for command in (["db", "migrate"], ["dags", "reserialize"]):
        done = subprocess.run([airflow, *command], capture_output=True, text=True, env=os.environ.copy())
        assert done.returncode == 0, f"airflow {' '.join(command)} failed:\n{done.stderr[-3000:]}"


@pytest.fixture
def paylake_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Export the per-test settings as PAYLAKE_* variables, for code that calls load_settings() itself
    (Airflow tasks under dag.test(), spark-submit jobs)."""
    from paylake.settings import settings_env

    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    return settings
