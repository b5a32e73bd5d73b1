"""`paylake demo up | down`."""

from __future__ import annotations

import argparse

from paylake import demo
from paylake.settings import load_settings
from paylake.stack.checkout import dev_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the whole pipeline locally (what `make demo` does)")
    actions = parser.add_subparsers(dest="demo_command", required=True, metavar="ACTION")
    up = actions.add_parser("up", help="stack, generator, Airflow with both DAGs, dashboard; prints the URLs")
    up.set_defaults(func=lambda args: demo.up(dev_settings(load_settings())))
    down = actions.add_parser("down", help="stop everything `demo up` started, and nothing else")
    down.set_defaults(func=lambda args: demo.down(dev_settings(load_settings())))
