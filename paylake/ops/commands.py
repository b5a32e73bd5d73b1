"""`paylake metrics serve [--port P]` (the Prometheus exporter) and `paylake metrics show` (one reading)."""

from __future__ import annotations

import argparse
import threading


def _registry():  # type: ignore[no-untyped-def]
    from prometheus_client import CollectorRegistry

    from paylake.ops.metrics import StoreCollector
    from paylake.settings import load_settings

    registry = CollectorRegistry(auto_describe=False)  # describe() would read the stores at registration
    registry.register(StoreCollector(load_settings()))
    return registry


def _serve(args: argparse.Namespace) -> int:
    from prometheus_client import start_http_server

    from paylake.settings import load_settings

    port = args.port or load_settings().metrics_port
    start_http_server(port, addr=args.address, registry=_registry())
    print(f"paylake metrics on http://{args.address}:{port}/metrics", flush=True)
    threading.Event().wait()  # the server thread serves; Ctrl-C or SIGTERM ends the process
    return 0


def _show(args: argparse.Namespace) -> int:
    from prometheus_client import generate_latest

    print(generate_latest(_registry()).decode(), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    metrics = subparsers.add_parser("metrics", help="the pipeline's health as Prometheus metrics")
    actions = metrics.add_subparsers(dest="metrics_command", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve /metrics for Prometheus (read from the stores per scrape)")
    serve.add_argument("--port", type=int, default=None, help="default PAYLAKE_METRICS_PORT (9108)")
    serve.add_argument("--address", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    serve.set_defaults(func=_serve)
    actions.add_parser("show", help="print one reading in Prometheus' text format").set_defaults(func=_show)
