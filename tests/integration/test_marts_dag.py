"""The DAG daily_marts imports cleanly, is keyed on its data interval, and backfills three dates through
Airflow (dag.test() per logical date); a date's build and publish are separate tasks."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import marts_support as truth
import pytest
from marts_support import DAYS

from paylake import names
from paylake.stack.checkout import CHECKOUT

DAG_FILE = str(CHECKOUT / "dags" / "daily_marts.py")


def _dag():  # type: ignore[no-untyped-def]
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=DAG_FILE)
    assert bag.import_errors == {}
    return bag.dags["daily_marts"]


def test_dagbag_imports_the_marts_dag() -> None:
    from paylake.jobs import DAILY_MARTS

    dag = _dag()
    assert dag.max_active_runs == 1 and dag.doc_md
    assert {t.task_id for t in dag.tasks} == {"build", "publish"}
    assert dag.get_task("build").downstream_task_ids == {"publish"}
    assert dag.get_task("build").retries >= 1
    assert dag.get_task("build").execution_timeout == DAILY_MARTS.timeout
    logical = datetime(2026, 3, 2, tzinfo=UTC)
    interval = dag.timetable.infer_manual_data_interval(run_after=logical)
    assert (interval.start, interval.end) == (datetime(2026, 3, 1, tzinfo=UTC), logical)


@pytest.mark.integration
def test_dag_backfills_three_dates(airflow_ready, paylake_env, mongo_db, redis_client) -> None:  # type: ignore[no-untyped-def]
    records = truth.load(mongo_db)
    dag = _dag()
    for day in DAYS:  # a run at midnight builds the day that just ended: its data interval
        run = dag.test(logical_date=datetime.combine(day + timedelta(days=1), time(), UTC))
        states = {ti.task_id: str(ti.state).lower() for ti in run.get_task_instances()}
        assert all("success" in s for s in states.values()), (day, states)
    dates = {d["_id"]: d for d in mongo_db[names.MART_DATES].find()}
    assert sorted(dates) == [d.isoformat() for d in DAYS]
    assert all(d["state"] == "published" for d in dates.values())
    for day in DAYS:
        expected = sum(1 for r in records if r["event_time"].date() == day)
        assert dates[day.isoformat()]["rows"]["daily_summary"] >= 2
        summary = [r for r in truth_rows(paylake_env, day) if r["category"] is None]
        assert [r["transactions"] for r in summary] == [expected]


def truth_rows(settings, day):  # type: ignore[no-untyped-def]
    from paylake.marts import views

    found = views.mart_dataset(settings, "daily_summary")
    return [r for r in found.to_table().to_pylist() if r["date"] == day] if found is not None else []
