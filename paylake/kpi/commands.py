"""`paylake kpi refresh [--until ISO] [--for-s S] [--spark-submit]` and `paylake kpi show`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from paylake.errors import ServiceError


def parse_until(text: str) -> datetime:
    """An ISO-8601 instant; a naive one is taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _refresh(args: argparse.Namespace) -> int:
    from paylake.jobs import KPI_REFRESH
    from paylake.settings import load_settings

    settings = load_settings()
    if args.spark_submit:
        from paylake.jobs.submit import submit, summary_line

        extra = ["--until", args.until.isoformat()] if args.until else []
        extra += ["--for-s", str(args.for_s)] if args.for_s else []
        print(summary_line(submit(settings, KPI_REFRESH, extra)))
        return 0
    from paylake.jobs.run import run

    print(run(KPI_REFRESH, settings, until=args.until, for_s=args.for_s))
    return 0


def _show(args: argparse.Namespace) -> int:
    import redis

    from paylake.cache import connect, redacted
    from paylake.kpi import snapshot
    from paylake.settings import load_settings

    settings = load_settings()
    try:
        snap = snapshot.read(connect(settings.redis_url))
    except redis.RedisError as exc:
        raise ServiceError(f"Redis at {redacted(settings.redis_url)}: {exc}") from exc
    if snap is None:
        print("no KPI snapshot published yet: run `paylake kpi refresh`")
        return 1
    print(f"as of {snap.as_of}  watermark {snap.watermark}  published {snap.published_at}  version {snap.version}")
    print(f"{'window':<6} {'count':>9} {'amount':>14} {'avg':>9} {'fraud%':>7} {'flag%':>7} "
          f"{'lat ms':>8} {'p95 ms':>8} {'tpm':>9} {'revenue':>11}")
    for window, h in snap.headlines.items():
        print(f"{window:<6} {h.count:>9} {h.amount:>14.2f} {h.avg_ticket:>9.2f} {100 * h.fraud_rate:>7.2f} "
              f"{100 * h.flagged_rate:>7.2f} {h.latency_mean_ms:>8.1f} {h.latency_p95_ms:>8.1f} {h.tpm:>9.2f} "
              f"{h.revenue:>11.2f}")
    for window, revenue in snap.revenue_by_category.items():
        top = ", ".join(f"{c} {v:.2f}" for c, v in sorted(revenue.items(), key=lambda kv: -kv[1]))
        print(f"revenue {window}: {top}")
    print("rules: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(snap.rules.items())))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    kpi = subparsers.add_parser("kpi", help="the KPI job: refresh buckets and the Redis snapshot, show it")
    actions = kpi.add_subparsers(dest="kpi_command", required=True, metavar="ACTION")
    refresh = actions.add_parser("refresh", help="count new hot data and publish the snapshot")
    refresh.add_argument("--until", type=parse_until, help="ISO-8601 upper ingest-time bound (minus the lateness)")
    refresh.add_argument("--for-s", type=float, default=0.0, metavar="S",
                         help="keep refreshing (every PAYLAKE_KPI_PERIOD_S) for S seconds, as the DAG's task does")
    refresh.add_argument("--spark-submit", action="store_true",
                         help="run in a spark-submit JVM of its own (the path before Spark Connect)")
    refresh.set_defaults(func=_refresh)
    actions.add_parser("show", help="print the current KPI snapshot from Redis").set_defaults(func=_show)
