"""`paylake alerts deliver [--follow]`, `paylake alerts status` and `paylake alerts receiver [--port P]`."""

from __future__ import annotations

import argparse
import signal
import threading

DEFAULT_RECEIVER_PORT = 8999


def _deliver(args: argparse.Namespace) -> int:
    from paylake.settings import load_settings
    from paylake.webhook import deliver

    settings = load_settings()
    if not args.follow:
        print(f"delivered {deliver.deliver(settings)} alerts")
        return 0
    stop = threading.Event()
    # SIGTERM (`make down`, docker stop) ends the wait between polls; a POST under way finishes or times out,
    # and whatever it had not marked is sent again by the next deliverer.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        deliver.follow(settings, stop)
    except KeyboardInterrupt:
        stop.set()
    return 0


def _status(args: argparse.Namespace) -> int:

    from paylake import clock
    from paylake.mongo import open_db
    from paylake.settings import load_settings
    from paylake.webhook import outbox, wire

    settings = load_settings()
    with open_db(settings) as db:
        queue = outbox.backlog(db)
    target = wire.shown(settings.alert_webhook) if settings.alert_webhook else "off (PAYLAKE_ALERT_WEBHOOK unset)"
    print(f"webhook {target}: {queue.pending} alerts queued, the oldest for {queue.age_s(clock.now()):.0f} s")
    return 0


def _receiver(args: argparse.Namespace) -> int:
    from paylake.webhook.receiver import make_server

    server = make_server(args.host, args.port)
    print(f"paylake example alert receiver on http://{args.host}:{args.port}/ (one line per new alert)", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    alerts = subparsers.add_parser("alerts", help="fraud alerts to a webhook: deliver, status, example receiver")
    actions = alerts.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    deliver = actions.add_parser("deliver", help="POST the queued alerts to PAYLAKE_ALERT_WEBHOOK")
    deliver.add_argument("--follow", action="store_true",
                         help="keep delivering (poll every 2 s, back off up to 60 s while the receiver fails)")
    deliver.set_defaults(func=_deliver)
    actions.add_parser("status", help="how many alerts wait for the webhook").set_defaults(func=_status)
    receiver = actions.add_parser("receiver", help="an example receiver: prints each alert once per idempotency key")
    receiver.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    receiver.add_argument("--port", type=int, default=DEFAULT_RECEIVER_PORT,
                          help=f"default {DEFAULT_RECEIVER_PORT}")
    receiver.set_defaults(func=_receiver)
