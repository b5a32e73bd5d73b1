"""The DAG kpi_refresh imports cleanly, and a dag.test() run leaves a snapshot that matches ground truth."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake.stack.checkout import CHECKOUT

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def test_dagbag_imports_kpi_refresh_without_errors() -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(CHECKOUT / "dags" / "kpi_refresh.py"))
    assert bag.import_errors == {}
    dag = bag.dags["kpi_refresh"]  # not get_dag(): that consults the metadata DB
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.doc_md
    task = dag.get_task("refresh")
    assert task.retries >= 1 and task.retry_exponential_backoff
    # Schedule and timeout come from the job's declaration (whose lock outlives the timeout).
    from paylake.jobs import KPI_REFRESH

    assert task.execution_timeout == KPI_REFRESH.timeout


def test_a_run_refreshes_in_a_loop(  # type: ignore[no-untyped-def]
    airflow_ready, paylake_env, mongo_db, redis_client, monkeypatch
) -> None:
    """A run keeps refreshing (here for 12 s, PAYLAKE_KPI_LOOP_S): rows that land while it runs are counted
    by it, and the snapshot it leaves matches ground truth."""
    from airflow.dag_processing.dagbag import DagBag

    from paylake.kpi import snapshot

    monkeypatch.setenv("PAYLAKE_KPI_PERIOD_S", "2")
    monkeypatch.setenv("PAYLAKE_KPI_LOOP_S", "12")
    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(240, T0, prefix="dag"))
    later = threading.Timer(6.0, insert, (mongo_db, make_records(60, T0 + timedelta(days=1), prefix="late")))
    later.start()
    dag = DagBag(dag_folder=str(CHECKOUT / "dags" / "kpi_refresh.py")).dags["kpi_refresh"]
    started = time.monotonic()
    run = dag.test()
    later.join()
    assert str(run.state) in {"success", "DagRunState.SUCCESS"}, run.state
    assert time.monotonic() - started >= 10, "the task returned before its loop's end"
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 300
    check_snapshot(mongo_db, snap)
