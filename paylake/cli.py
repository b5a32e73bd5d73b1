"""The `paylake` command line. Each feature module registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from paylake.errors import PaylakeError

# Modules exposing ``register(subparsers)``; each keeps its heavy imports inside its handlers.
COMMAND_MODULES = (
    "paylake.stack.commands",
    "paylake.dashboard.commands",
    "paylake.generator.commands",
    "paylake.kpi.commands",
    "paylake.demo_commands",
    "paylake.archive.commands",
    "paylake.marts.commands",
    "paylake.webhook.commands",
    "paylake.ops.commands",
)


def positive_int(text: str) -> int:
    """argparse type: an integer above zero (a zero batch size or row count would loop or crash later)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a number above zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="paylake", description="paylake: hot/cold payments lake with cached KPIs")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def configure_logging(verbose: bool = False) -> None:
    """One log format for the CLI and the spark-submit job scripts (whose lines reach the Airflow task log)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main(argv: Sequence[str] | None = None) -> int:
    from pymongo.errors import ConnectionFailure

    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except PaylakeError as exc:  # every expected failure: one line, its exit code (see paylake/errors.py)
        print(f"paylake: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ConnectionFailure as exc:  # any command whose MongoDB is down: one line, not pymongo's traceback
        reason = str(exc).split(" (configured timeouts")[0]
        print(f"paylake: error: MongoDB unreachable: {reason}. Is the stack up? (`make up`)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("paylake: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
