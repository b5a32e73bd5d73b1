"""The DAG kpi_refresh imports cleanly, and a dag.test() run leaves a snapshot that matches ground truth."""

from __future__ import annotations

from datetime import UTC, datetime

from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake.settings import REPO_ROOT

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_dagbag_imports_kpi_refresh_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "kpi_refresh.py"))
    assert bag.import_errors == {}
    dag = bag.dags["kpi_refresh"]  # not get_dag(): that consults the metadata DB
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.doc_md
    task = dag.get_task("refresh")
    assert task.retries >= 1 and task.retry_exponential_backoff
    # The job's own timeout ends it (with its output) before Airflow's; the lock outlives both.
    from paylake.kpi.job import LOCK_TTL
    from paylake.kpi.tasks import JOB_TIMEOUT_S

    assert JOB_TIMEOUT_S < task.execution_timeout.total_seconds() < LOCK_TTL.total_seconds()


def test_dag_test_publishes_ground_truth(airflow_ready, paylake_env, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    from paylake.kpi import snapshot

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(240, T0, prefix="dag"))
    dag = DagBag(dag_folder=str(REPO_ROOT / "dags" / "kpi_refresh.py")).dags["kpi_refresh"]
    run = dag.test()
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}, run.state
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 240
    check_snapshot(mongo_db, snap)
