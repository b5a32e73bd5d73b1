"""The whole pipeline on the real local servers, the way `make demo` runs it.

train a CTGAN model → generate (with malformed records) → DAG kpi_refresh → DAG mongo_to_hdfs_archiving with
a threshold the hot store is over → generate more → kpi_refresh → `paylake query` over hot ∪ cold → DAG
daily_marts for the stream's date. Every total (SQL over hot ∪ cold, the Redis all-time KPIs, the dead
letters, the date's mart) must match what was generated.
The jobs run on a real Spark standalone cluster (a master and a worker from pyspark's jars), as clients of a
Spark Connect server that drives it: their tasks must have run on the worker's executor.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from paylake import names
from paylake.settings import Settings, settings_env
from paylake.stack.checkout import CHECKOUT

T0 = datetime(2026, 2, 2, tzinfo=UTC)
CUSTOMERS = 20_000
SPEEDUP = 3600.0  # one wall second = one simulated hour: a few seconds of generation span several hours


@pytest.fixture(scope="module")
def cluster(stack_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A standalone master and worker, and a Spark Connect server driving them: (its sc:// URL, its UI port)."""
    from paylake.stack.process import free_port
    from paylake.stack.spark_servers import connect_service, standalone_services

    run_dir = tmp_path_factory.mktemp("cluster")
    master, master_ui, worker_ui, connect, driver_ui = (free_port() for _ in range(5))
    remote = f"sc://127.0.0.1:{connect}"
    services = standalone_services(run_dir, master, (master_ui, worker_ui))
    services.append(connect_service(stack_settings.with_overrides(spark_remote=remote), run_dir,
                                    master=f"spark://127.0.0.1:{master}",
                                    extra_conf={"spark.ui.enabled": "true", "spark.ui.port": str(driver_ui)}))
    try:
        for service in services:
            service.start()
        yield remote, driver_ui
    finally:
        for service in reversed(services):
            service.stop()


def _executor_tasks(driver_ui: int) -> int:
    """Tasks run by the cluster's executors (not the driver), from the Connect server's REST API."""
    def get(path: str) -> Any:
        with urllib.request.urlopen(f"http://127.0.0.1:{driver_ui}/api/v1/applications{path}", timeout=60) as resp:
            return json.load(resp)

    [app] = get("")
    return sum(int(e["totalTasks"]) for e in get(f"/{app['id']}/executors") if e["id"] != "driver")


def _run_dag(dag_id: str, logical_date: datetime | None = None) -> None:
    """One run of ``dag_id``, by default for a data interval that ends after everything generated so far was
    ingested (plus the KPI job's allowed lateness): the interval a scheduled run one or two minutes later
    would get."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(CHECKOUT / "dags" / f"{dag_id}.py")).dags[dag_id]
    run = dag.test(logical_date=logical_date or datetime.now(UTC) + timedelta(minutes=2))
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}, f"{dag_id}: {run.state}"


def _newest_ingest(db: Any) -> datetime | None:
    newest = db[names.TRANSACTIONS].find_one({}, {"ingest_time": 1}, sort=[("ingest_time", -1)])
    return newest["ingest_time"] if newest else None


def _truth(db: Any, since: datetime) -> dict[str, float]:
    """Transaction id → amount of every hot transaction with event_time >= since (read straight from MongoDB)."""
    found = db[names.TRANSACTIONS].find({"event_time": {"$gte": since}}, {"amount": 1})
    return {doc["_id"]: doc["amount"] for doc in found}


def _query(settings: Settings, sql: str) -> list[dict[str, Any]]:
    paylake = str(Path(sys.executable).parent / "paylake")
    done = subprocess.run(
        [paylake, "query", sql, "--format", "json"],
        capture_output=True,
        text=True,
        env={**settings_env(settings), "PATH": "/usr/bin:/bin"},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def test_whole_pipeline(  # type: ignore[no-untyped-def]
    airflow_ready, paylake_env: Settings, mongo_db, redis_client, monkeypatch: pytest.MonkeyPatch, cluster
) -> None:
    from paylake.archive import manifest, size
    from paylake.data import REFERENCE_CSV
    from paylake.generator import model, stream
    from paylake.kpi import snapshot
    from paylake.kpi.state import read_watermark

    # A small population: seeding the default 500,000 customers would take a minute (the KPI job reads only
    # the customers its rows name, whatever the population).
    monkeypatch.setenv("PAYLAKE_CUSTOMERS", str(CUSTOMERS))
    remote, driver_ui = cluster
    monkeypatch.setenv("PAYLAKE_SPARK_REMOTE", remote)
    # Each kpi_refresh run loops for 8 s (a refresh every 2 s): its last refreshes are past the lateness.
    monkeypatch.setenv("PAYLAKE_KPI_LOOP_S", "8")
    monkeypatch.setenv("PAYLAKE_KPI_PERIOD_S", "2")
    settings = paylake_env.with_overrides(customers=CUSTOMERS, spark_remote=remote)
    # A small, fast model: this test is about the pipeline; test_generator_model checks the model's quality.
    frame = model.training_frame(pd.read_csv(REFERENCE_CSV)).sample(3000, random_state=0)
    model.save(model.train(frame, epochs=3, seed=1), settings.model_file)

    first = stream.run(
        settings, count=6000, rate=2000, start=T0, speedup=SPEEDUP, bad_rate=0.01, seed=1, progress=False
    )
    assert first.adds_up() and first.failed == 0 and first.dead_lettered > 0
    truth = _truth(mongo_db, T0)
    assert len(truth) == first.inserted
    _run_dag("kpi_refresh")

    # Over the threshold: the archive DAG must move the oldest hours and get under the low-water mark.
    before = size.measure(mongo_db, settings)
    monkeypatch.setenv("PAYLAKE_HOT_MAX_MB", f"{before.data_mb / 2:.4f}")
    _run_dag("mongo_to_hdfs_archiving")
    batches = [b for b in manifest.all_batches(mongo_db) if b["state"] == "complete"]
    watermark, newest = read_watermark(mongo_db), _newest_ingest(mongo_db)
    assert batches, f"the archive DAG archived nothing: {before.line()}; watermark {watermark}, newest {newest}"
    archived_rows = sum(int(b["rows"]) for b in batches)
    hot_left = mongo_db[names.TRANSACTIONS].count_documents({})
    assert hot_left + archived_rows == first.inserted
    after = size.measure(mongo_db, settings.with_overrides(hot_max_mb=before.data_mb / 2))
    assert after.data_mb <= after.low_water_mb

    second_start = T0 + timedelta(hours=12)
    second = stream.run(settings, count=2000, rate=2000, start=second_start, speedup=SPEEDUP, seed=2, progress=False)
    assert second.adds_up() and second.inserted == 2000
    truth |= _truth(mongo_db, second_start)
    # The last inserts are inside the allowed lateness for a few seconds: a loop whose refreshes are slow (a
    # loaded machine) may end before one starts past it. Wait it out, so every refresh of the run counts all.
    time.sleep(settings.kpi_lateness_s)
    _run_dag("kpi_refresh")

    total = sum(truth.values())
    [row] = _query(
        settings, "SELECT count(*) AS n, count(DISTINCT transaction_id) AS ids, sum(amount) AS amount FROM transactions"
    )
    assert row["n"] == row["ids"] == len(truth) == first.inserted + second.inserted
    assert math.isclose(row["amount"], total, rel_tol=1e-9)
    [cold] = _query(settings, "SELECT count(*) AS n FROM archive")
    assert cold["n"] == archived_rows

    snap = snapshot.read(redis_client)
    assert snap is not None
    assert snap.headlines["all"].count == len(truth)
    assert math.isclose(snap.headlines["all"].amount, total, rel_tol=1e-9)
    assert mongo_db[names.DEAD_LETTER].count_documents({}) == first.dead_lettered + second.dead_lettered

    # The batch layer on the same cluster: T0's date (all of the stream) from hot ∪ cold, gated, published.
    _run_dag("daily_marts", T0 + timedelta(days=1))  # the run at midnight builds the day that ended
    [day] = _query(settings, "SELECT transactions, amount FROM daily_summary WHERE category IS NULL")
    assert day["transactions"] == len(truth) and math.isclose(day["amount"], total, rel_tol=1e-9)
    assert _executor_tasks(driver_ui) > 0, "the jobs' work must run on the standalone worker's executor"
