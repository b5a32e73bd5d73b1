"""`paylake stack up | down | status`."""

from __future__ import annotations

import argparse

from paylake.settings import load_settings
from paylake.stack import manager
from paylake.stack.checkout import dev_settings


def _up(args: argparse.Namespace) -> int:
    statuses = manager.up(dev_settings(load_settings()))
    print("\npaylake stack is up:")
    for status in statuses:
        print("  " + status.line)
    return 0 if all(s.healthy for s in statuses) else 1


def _down(args: argparse.Namespace) -> int:
    manager.down(dev_settings(load_settings()))
    return 0


def _status(args: argparse.Namespace) -> int:
    statuses = manager.status(dev_settings(load_settings()))
    for status in statuses:
        print(status.line)
    return 0 if all(s.healthy for s in statuses) else 3


def register(subparsers: argparse._SubParsersAction) -> None:
    stack = subparsers.add_parser(
        "stack", help="run the local servers (MongoDB-compatible, Redis, HDFS, Spark Connect, Prometheus)")
    actions = stack.add_subparsers(dest="stack_command", required=True, metavar="ACTION")
    for name, func, text in (
        ("up", _up, "start every server on 127.0.0.1 and wait until each answers"),
        ("down", _down, "stop every server of the stack"),
        ("status", _status, "report each server truthfully (exit 3 when one is not healthy)"),
    ):
        actions.add_parser(name, help=text, description=text).set_defaults(func=func)
