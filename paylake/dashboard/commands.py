"""`paylake dashboard [--port N]`: run the Streamlit dashboard in the foreground."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from paylake.settings import Settings, load_settings, settings_env

APP = Path(__file__).with_name("app.py")  # package data: present in a wheel install too


def streamlit_argv(port: int, address: str = "127.0.0.1") -> list[str]:
    """The `streamlit run` command line: headless (never opens a browser), no usage statistics."""
    return [
        str(Path(sys.executable).parent / "streamlit"),
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.address",
        address,
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
        "--client.toolbarMode",
        "viewer",  # no "Deploy" button: operators only view
    ]


def streamlit_env(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings_env(settings)}


def _run(args: argparse.Namespace) -> int:
    settings = load_settings()
    port = args.port or settings.dashboard_port
    print(f"paylake dashboard: http://{args.address}:{port} (Redis {settings.redis_url}, Ctrl-C stops it)")
    return subprocess.call(streamlit_argv(port, args.address), env=streamlit_env(settings))


def register(subparsers: argparse._SubParsersAction) -> None:
    text = "run the live Streamlit dashboard (reads only Redis)"
    parser = subparsers.add_parser("dashboard", help=text, description=text)
    parser.add_argument("--port", type=int, default=None, help="HTTP port (default: PAYLAKE_DASHBOARD_PORT, 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.set_defaults(func=_run)
