"""Start, stop and inspect one background server process, with its pid file and log in the state dir."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from paylake.errors import UsageError
from paylake.lock import pid_alive


class StackError(UsageError):
    """A server could not be started, is unhealthy, or a prerequisite is missing."""


class _Exited(Exception):
    """The process being waited for has exited."""


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nobody listens on right now (for tests that start their own servers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, interval_s: float = 0.25) -> None:
    """Poll ``check`` until it returns True; raise StackError naming ``what`` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except _Exited:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = exc
        time.sleep(interval_s)
    detail = f" (last error: {last_error})" if last_error else ""
    if isinstance(last_error, _Exited):
        raise last_error
    raise StackError(f"{what} did not become ready within {timeout_s:.0f}s{detail}")


def _process_table() -> list[tuple[int, str, int, int]]:
    """(pid, state, parent pid, process group) of every process, from /proc."""
    table = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        table.append((int(entry), fields[0], int(fields[1]), int(fields[2])))
    return table


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process is still in process group ``pgid``."""
    return any(state != "Z" and group == pgid for _pid, state, _ppid, group in _process_table())


def family(pid: int) -> set[int]:
    """Live processes in ``pid``'s process group or descended from it. Airflow starts each task in a session
    of its own, so the process group alone would miss a running task and its spark-submit JVM."""
    table = _process_table()
    members = {p for p, state, _ppid, group in table if group == pid and state != "Z"}
    children: dict[int, list[int]] = {}
    for p, _state, ppid, _group in table:
        children.setdefault(ppid, []).append(p)
    todo = [pid, *members]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in members:
                members.add(child)
                todo.append(child)
    return members


@dataclass
class Service:
    """One server process: how to start it, which ports it owns, and how to tell it is healthy."""

    name: str
    argv: list[str]
    run_dir: Path
    ports: list[int]
    healthy: Callable[[], bool]
    address: str
    env: dict[str, str] = field(default_factory=dict)
    start_timeout_s: float = 60.0

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self) -> bool:
        """Start the process unless it already runs; return True when it was started now."""
        if self.pid() is not None:
            return False
        for port in self.ports:
            if not port_is_free(port):
                raise StackError(f"{self.name}: port {port} on 127.0.0.1 is already taken by another process")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                start_new_session=True,  # its own process group, so `down` stops its children too
            )
        self.pid_file.write_text(str(proc.pid))

        def ready() -> bool:
            if proc.poll() is not None:
                raise _Exited()
            return self.healthy()

        try:
            wait_until(ready, self.start_timeout_s, self.name)
        except (StackError, _Exited) as exc:
            code = proc.poll()
            self.stop()
            tail = self.log_tail()
            why = f"exited with code {code}" if code is not None else str(exc)
            raise StackError(f"{self.name} failed to start: {why}; log {self.log_file}:\n{tail}") from exc
        return True

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the process, its group and every descendant (SIGTERM, then SIGKILL); True when it was running."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        # Remember the whole family first: once the leader exits, its orphans are no longer findable by parent.
        members = family(pid) | {pid}
        for sig in (signal.SIGTERM, signal.SIGKILL):
            members |= family(pid)
            for member in members:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(member, sig)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and any(pid_alive(m) for m in members):
                with contextlib.suppress(ChildProcessError):  # reap it when it is our child (tests)
                    os.waitpid(pid, os.WNOHANG)
                time.sleep(0.1)
            if not any(pid_alive(m) for m in members):
                break
        self.pid_file.unlink(missing_ok=True)
        return True

    def is_healthy(self) -> bool:
        try:
            return self.healthy()
        except Exception:  # noqa: BLE001 - a failing probe is an unhealthy service
            return False

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
