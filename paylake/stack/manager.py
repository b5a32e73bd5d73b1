"""`paylake stack up | down | status`: the whole local stack at once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from paylake.settings import Settings
from paylake.stack.process import Service
from paylake.stack.servers import format_namenode, hdfs_services, mongo_service, redis_service


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
    """The stack's servers in start order (HDFS only when the cold store is hdfs://)."""
    run_dir = settings.state_dir / "run"
    found = [mongo_service(settings, run_dir), redis_service(settings, run_dir)]
    if settings.cold_is_hdfs:
        found += hdfs_services(settings, run_dir)
    return found


def up(settings: Settings, echo: Callable[[str], None] = print) -> list[ServiceStatus]:
    """Start every server that is not running, wait until each answers, and report them."""
    if settings.cold_is_hdfs:
        format_namenode(settings, settings.state_dir / "hdfs")
    for service in services(settings):
        echo(f"{service.name}: starting…" if service.pid() is None else f"{service.name}: already running")
        service.start()
    return status(settings)


def down(settings: Settings, echo: Callable[[str], None] = print) -> None:
    """Stop every server of the stack (reverse order); no process is left behind."""
    for service in reversed(services(settings)):
        echo(f"{service.name}: {'stopped' if service.stop() else 'was not running'}")


def status(settings: Settings) -> list[ServiceStatus]:
    return [ServiceStatus(s.name, s.pid(), s.is_healthy(), s.address) for s in services(settings)]
