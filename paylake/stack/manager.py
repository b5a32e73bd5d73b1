"""`paylake stack up | down | status`: the whole local stack at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paylake.settings import Settings, load_settings
from paylake.stack.checkout import JARS_DIR
from paylake.stack.process import Service, free_port
from paylake.stack.prometheus import prometheus_service
from paylake.stack.servers import format_namenode, hdfs_services, mongo_service, redis_service
from paylake.stack.spark_servers import connect_service


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    healthy: bool
    address: str

    @property
    def line(self) -> str:
        state = "healthy" if self.healthy else ("running, NOT answering" if self.pid else "stopped")
        pid = f"pid {self.pid}" if self.pid else "-"
        return f"{self.name:<14} {state:<24} {pid:<10} {self.address}"


def services(settings: Settings) -> list[Service]:
    """The stack's servers in start order (HDFS only when the cold store is hdfs://, the Spark Connect server
    when jobs use one: PAYLAKE_SPARK_REMOTE, Prometheus unless PAYLAKE_PROMETHEUS_PORT is 0)."""
    run_dir = settings.state_dir / "run"
    found = [mongo_service(settings, run_dir), redis_service(settings, run_dir)]
    if settings.cold_is_hdfs:
        found += hdfs_services(settings, run_dir)
    if settings.spark_connect_url:
        found.append(connect_service(settings, run_dir))
    if settings.prometheus_port:
        found.append(prometheus_service(settings, run_dir))
    return found


def up(settings: Settings, echo: Callable[[str], None] = print) -> list[ServiceStatus]:
    """Start every server that is not running, wait until each answers, and report them."""
    if settings.cold_is_hdfs:
        format_namenode(settings, settings.state_dir / "hdfs")
    for service in services(settings):
        echo(f"{service.name}: starting…" if service.pid() is None else f"{service.name}: already running")
        service.start()
    return status(settings)


# Every server the stack may run, in start order. Stopping needs only a name (its pid file), not what starting
# needs: a stack whose FerretDB binary or jars went away (`make clean`, a rebuild) still stops.
SERVERS = ("mongo", "redis", "hdfs-namenode", "hdfs-datanode", "spark-connect", "prometheus")


def down(settings: Settings, echo: Callable[[str], None] = print) -> None:
    """Stop every server of the stack (reverse order); no process is left behind."""
    run_dir = settings.state_dir / "run"
    for name in reversed(SERVERS):
        stopped = Service(name, [], run_dir, [], lambda: False, name).stop()
        echo(f"{name}: {'stopped' if stopped else 'was not running'}")


def status(settings: Settings) -> list[ServiceStatus]:
    return [ServiceStatus(s.name, s.pid(), s.is_healthy(), s.address) for s in services(settings)]


def private_settings(state_dir: Path, mongo_db: str = "paylake") -> Settings:
    """Settings for a private stack on free ports with its state in ``state_dir`` (tests and benchmarks:
    never the developer's running stack). No Prometheus: tests of it start their own, with short intervals."""
    ports: set[int] = set()
    while len(ports) < 8:
        ports.add(free_port())
    mongo, redis_port, namenode, webhdfs, dn1, dn2, dn3, connect = sorted(ports)
    return load_settings({}).with_overrides(
        state_dir=state_dir,
        mongo_uri=f"mongodb://127.0.0.1:{mongo}",
        mongo_db=mongo_db,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        cold_uri=f"hdfs://127.0.0.1:{namenode}/paylake",
        webhdfs_url=f"http://127.0.0.1:{webhdfs}",
        hdfs_datanode_ports=(dn1, dn2, dn3),
        spark_master="local[2]",
        spark_remote=f"sc://127.0.0.1:{connect}",
        jars_dir=JARS_DIR,
        model_path=state_dir / "models" / "ctgan.pkl",
        prometheus_port=0,
    )
