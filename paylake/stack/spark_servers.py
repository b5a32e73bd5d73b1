"""Spark servers of the local stack, all from the jars pyspark ships: the long-lived Spark Connect server
the jobs are clients of, and (for tests) a standalone master and worker."""

from __future__ import annotations

import json
import socket
import sys
import urllib.request
from pathlib import Path

from paylake.settings import Settings
from paylake.spark import server_conf
from paylake.stack.checkout import with_checkout_jars
from paylake.stack.process import Service, StackError

CONNECT_SERVER = "org.apache.spark.sql.connect.service.SparkConnectServer"


def spark_home() -> Path:
    import pyspark

    home = Path(pyspark.__file__).parent
    if not (home / "bin" / "spark-submit").exists():
        raise StackError(f"pyspark at {home} has no bin/spark-submit: run `make setup`")
    return home


def spark_env() -> dict[str, str]:
    # pyspark's find-spark-home would run the python3 on PATH, not this environment's: name both.
    return {"SPARK_HOME": str(spark_home()), "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}


def _listening(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


def connect_service(settings: Settings, run_dir: Path, master: str | None = None,
                    extra_conf: dict[str, str] | None = None) -> Service:
    """The Spark Connect server on ``settings.spark_remote``'s port, driving ``master`` (default
    ``settings.spark_master``), with the connector jars and HDFS settings every job needs."""
    master = master or settings.spark_master
    conf = server_conf(with_checkout_jars(settings).with_overrides(spark_master=master))
    port = settings.spark_connect_port
    conf |= {"spark.connect.grpc.binding.port": str(port), "spark.connect.grpc.binding.address": "127.0.0.1",
             # 4 GB: the KPI loop's refreshes are local data on the driver (up to job.MAX_NEW_ROWS new rows and
             # their lookback), and a 2,000 tx/s soak exhausted 2 GB during a catch-up (README, "Scale").
             "spark.driver.memory": "4g", **(extra_conf or {})}
    argv = [str(spark_home() / "bin" / "spark-submit"), "--class", CONNECT_SERVER, "--master", master]
    argv += ["--jars", conf.pop("spark.jars")]
    for key, value in conf.items():
        argv += ["--conf", f"{key}={value}"]
    return Service("spark-connect", [*argv, "spark-internal"], run_dir, [port], lambda: _listening(port),
                   f"{settings.spark_remote} (Spark Connect, master {master})", env=spark_env(),
                   start_timeout_s=120)


def master_state(ui_port: int) -> dict[str, object]:
    """The standalone master's own JSON status (workers, applications)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
        return dict(json.load(resp))


def standalone_services(run_dir: Path, master_port: int, ui_ports: tuple[int, int], cores: int = 2) -> list[Service]:
    """A standalone master and one worker on 127.0.0.1 (``spark-class``, as the sbin scripts would); the
    worker is ready once the master counts it alive."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    env = {**spark_env(), "SPARK_LOCAL_IP": "127.0.0.1"}
    url = f"spark://127.0.0.1:{master_port}"
    master = Service(
        "spark-master",
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(master_port),
         "--webui-port", str(ui_ports[0])],
        run_dir, [master_port, ui_ports[0]], lambda: _listening(master_port), url, env=env, start_timeout_s=90)
    worker = Service(
        "spark-worker",
        [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1", "--cores", str(cores),
         "--memory", "2g", "--webui-port", str(ui_ports[1]), url],
        run_dir, [ui_ports[1]], lambda: int(str(master_state(ui_ports[0]).get("aliveworkers", 0))) > 0,
        f"worker of {url}", env=env, start_timeout_s=90)
    return [master, worker]
