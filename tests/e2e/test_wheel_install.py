"""The package as production installs it: a wheel in a fresh virtualenv outside the checkout (what the
Dockerfile does), running `paylake kpi refresh` and both DAGs (`dag.test()` from a copy of dags/) against the
test stack. Nothing may reach back into the checkout: the jobs, the reference table and the dashboard app
must come from the installed package.

The fresh virtualenv gets the wheel with --no-deps; its dependencies come from this environment's
site-packages, added as a plain path (the checkout's editable install is not: that would need its .pth).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from factories import make_records
from kpi_truth import check_snapshot, insert, seed_dimensions

from paylake import names
from paylake.settings import Settings, settings_env
from paylake.stack.checkout import CHECKOUT

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)

DAG_SCRIPT = """
import sys
from datetime import datetime, timedelta, UTC
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1])
assert bag.import_errors == {}, bag.import_errors
for dag_id in ("kpi_refresh", "mongo_to_hdfs_archiving"):
    run = bag.dags[dag_id].test(logical_date=datetime.now(UTC) + timedelta(minutes=1))
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    print(dag_id, run.state, states, flush=True)
    assert "success" in str(run.state).lower(), (dag_id, states)
run = bag.dags["daily_marts"].test(logical_date=datetime.fromisoformat(sys.argv[2]))  # builds the day before
assert "success" in str(run.state).lower(), ("daily_marts", run.state)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (outside the checkout) with paylake's wheel installed: its bin/ directory."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"  # build from a copy: setuptools writes build/ and *.egg-info where it builds
    shutil.copytree(CHECKOUT / "paylake", source / "paylake", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, cwd=root)
    [wheel] = (root / "dist").glob("paylake-*.whl")
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "install", "--no-deps", "--target", str(site), str(wheel)], check=True, cwd=root)
    shutil.rmtree(source)
    # The console script: what `pip install` into the venv would write.
    script = venv / "bin" / "paylake"
    script.write_text(f"#!{venv / 'bin' / 'python'}\nimport sys\nfrom paylake.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    return venv / "bin"


def _env(settings: Settings, bin_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYLAKE_") and k != "PYTHONPATH"}
    # No jars and no state dir: a production install uses its default state dir (under HOME), and the Spark
    # Connect server holds the jars.
    env |= {k: v for k, v in settings_env(settings).items() if k not in {"PAYLAKE_JARS_DIR", "PAYLAKE_STATE_DIR"}}
    return env | {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(bin_dir.parent)}


def test_the_installed_package_is_not_the_checkout(installed: Path, tmp_path: Path) -> None:
    done = subprocess.run([str(installed / "python"), "-c",
                           "import paylake, paylake.data as d, paylake.jobs.main as m, paylake.dashboard.commands as c;"
                           "import paylake.ops as o;"
                           "print(paylake.__file__, d.REFERENCE_CSV.exists(), m.__file__, c.APP.exists(),"
                           " o.RULES_FILE.exists())"],
                          capture_output=True, text=True, cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}, check=True)
    where, csv, main, app, rules = done.stdout.split()
    assert not where.startswith(str(CHECKOUT)) and str(installed.parent) in where
    assert csv == app == rules == "True" and str(installed.parent) in main


def test_kpi_refresh_and_every_dag_run_from_the_wheel(  # type: ignore[no-untyped-def]
    installed: Path, airflow_ready, settings: Settings, mongo_db, redis_client, tmp_path: Path
) -> None:
    from paylake.kpi import snapshot

    seed_dimensions(mongo_db)
    insert(mongo_db, make_records(150, T0, prefix="wheel"))
    env = _env(settings.with_overrides(kpi_loop_s=3.0, hot_max_mb=0.05), installed)
    done = subprocess.run([str(installed / "paylake"), "kpi", "refresh"], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 150
    check_snapshot(mongo_db, snap)

    insert(mongo_db, make_records(150, T0.replace(hour=11), prefix="more"))
    dags = shutil.copytree(CHECKOUT / "dags", tmp_path / "dags")
    marts_run = (T0 + timedelta(days=1)).replace(hour=0).isoformat()
    done = subprocess.run([str(installed / "python"), "-c", DAG_SCRIPT, str(dags), marts_run], capture_output=True,
                          text=True, env=env | {"AIRFLOW__CORE__DAGS_FOLDER": str(dags)}, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    snap = snapshot.read(redis_client)
    assert snap is not None and snap.headlines["all"].count == 300
    archived = sum(b["rows"] for b in mongo_db[names.ARCHIVE_MANIFEST].find({"state": "complete"}))
    assert archived > 0, "the archive DAG (threshold 0.05 MB) moved nothing"
    assert archived + mongo_db[names.TRANSACTIONS].count_documents({}) == 300
    marts = mongo_db[names.MART_DATES].find_one({"_id": T0.date().isoformat()})
    assert marts is not None and marts["state"] == "published", "the daily_marts DAG published T0's date"
    assert marts["rows"]["daily_summary"] >= 2  # the date and its categories
