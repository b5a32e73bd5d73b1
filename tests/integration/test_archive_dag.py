"""The DAG mongo_to_hdfs_archiving imports cleanly, skips under the threshold, and with a small threshold
moves the oldest data to HDFS (a Spark Connect client) until the hot store is under the low-water mark."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from archive_support import assert_exactly_once, cold_rows, load

from paylake import names
from paylake.stack.checkout import CHECKOUT

DAG_FILE = str(CHECKOUT / "dags" / "mongo_to_hdfs_archiving.py")


def _dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAG_FILE)
    assert bag.import_errors == {}
    return bag.dags["mongo_to_hdfs_archiving"]  # not get_dag(): that consults the metadata DB


def test_dagbag_imports_the_archiving_dag() -> None:
    dag = _dag()
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.doc_md
    assert {t.task_id for t in dag.tasks} == {"check_size", "archive"}
    assert dag.get_task("archive").retries >= 1
    assert dag.get_task("check_size").downstream_task_ids == {"archive"}
    # The timeout comes from the job's declaration (whose lock outlives it).
    from paylake.jobs import ARCHIVE

    assert dag.get_task("archive").execution_timeout == ARCHIVE.timeout


@pytest.mark.integration
def test_dag_skips_under_the_threshold_then_archives_over_it(  # type: ignore[no-untyped-def]
    airflow_ready, paylake_env, mongo_db, redis_client, monkeypatch
) -> None:
    records = load(mongo_db)
    expected = [r["transaction_id"] for r in records]
    dag = _dag()

    run = dag.test(logical_date=datetime(2026, 2, 1, 0, 0, tzinfo=UTC))  # default threshold 300 MB: skip
    assert "success" in str(run.state).lower()
    states = {ti.task_id: str(ti.state).lower() for ti in run.get_task_instances()}
    assert "skipped" in states["archive"], states
    assert mongo_db[names.TRANSACTIONS].count_documents({}) == len(records)
    assert redis_client.hget(names.HOT_SIZE, "threshold_mb") == "300"

    monkeypatch.setenv("PAYLAKE_HOT_MAX_MB", "1.0")
    run = dag.test(logical_date=datetime(2026, 2, 1, 0, 5, tzinfo=UTC))
    states = {ti.task_id: str(ti.state).lower() for ti in run.get_task_instances()}
    assert "success" in states["archive"], states
    size = redis_client.hgetall(names.HOT_SIZE)
    assert float(size["data_mb"]) < float(size["low_water_mb"]) == pytest.approx(0.8)
    assert cold_rows(paylake_env), "the oldest data is in HDFS now"
    assert_exactly_once(paylake_env, mongo_db, expected)
