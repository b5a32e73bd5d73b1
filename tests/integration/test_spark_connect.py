"""Jobs are Spark Connect clients of the stack's long-lived server: no JVM of their own, one session for a
whole loop of refreshes, and a clear error when the server is not there."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake.settings import Settings, settings_env

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)


def test_the_test_session_is_a_spark_connect_client(spark) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    assert isinstance(spark, ConnectSession)
    assert spark.range(1000).selectExpr("sum(id)").first()[0] == 499500


def test_the_cli_refreshes_without_java_on_its_path(settings: Settings, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    """`paylake kpi refresh` starts no JVM: with no java (and no JAVA_HOME) to be found it still counts."""
    from paylake.kpi import snapshot

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(90, T0, prefix="cli"))
    env = {k: v for k, v in os.environ.items() if k not in {"JAVA_HOME", "SPARK_HOME"}}
    env |= settings_env(settings) | {"PATH": str(Path(sys.executable).parent)}  # the venv's bin only
    done = subprocess.run([str(Path(sys.executable).parent / "paylake"), "kpi", "refresh"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert '"new_count": 90' in done.stdout
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 90
    check_snapshot(mongo_db, snap)


def test_a_loop_counts_what_lands_while_it_runs(settings: Settings, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    from paylake.jobs import KPI_REFRESH
    from paylake.jobs.run import run
    from paylake.kpi import snapshot

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(120, T0, prefix="first"))
    later = threading.Timer(4.0, insert, (mongo_db, make_records(45, T0 + timedelta(days=1), prefix="later")))
    later.start()
    summary = run(KPI_REFRESH, settings.with_overrides(kpi_period_s=1.5), for_s=9.0)
    later.join()
    assert '"failures": 0' in summary and '"new_count": 165' in summary
    refreshes = int(summary.split('"refreshes": ')[1].split(",")[0])
    assert refreshes >= 3, summary
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 165
    check_snapshot(mongo_db, snap)


def test_no_server_is_a_clear_error(settings: Settings) -> None:
    """A Spark job (the archive needs no Spark since 325f9a6) against a port where nothing listens."""
    from paylake.jobs import KPI_REFRESH
    from paylake.jobs.run import run
    from paylake.spark import SparkUnreachable
    from paylake.stack.process import free_port

    nowhere = f"sc://127.0.0.1:{free_port()}"
    with pytest.raises(SparkUnreachable, match=f"Spark Connect server at {nowhere} does not answer.*stack up"):
        run(KPI_REFRESH, settings.with_overrides(spark_remote=nowhere))
