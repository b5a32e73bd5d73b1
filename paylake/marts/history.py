"""The dashboard's view of the batch layer, in Redis (the dashboard reads nothing else): the daily totals of the
last HISTORY_DAYS published dates, the latest date's top merchants and RFM segments (read from the
published marts with DuckDB), and the data-quality gate runs (from MongoDB). Rebuilt whole after every
gate run and publish, so a Redis that was down or wiped is repaired by the next run."""

from __future__ import annotations

import json
import logging
from datetime import date, datetime, timedelta
from typing import Any

from pymongo.database import Database
from redis.exceptions import RedisError

from paylake import cache, names
from paylake.clock import now
from paylake.marts import results
from paylake.settings import Settings

log = logging.getLogger(__name__)
HISTORY_DAYS = 90
TOP_MERCHANTS = 10
DAY_COLUMNS = ("transactions", "amount", "approved_amount", "avg_ticket", "fraud_count", "fraud_rate", "flagged",
               "flagged_share", "rule_precision", "commission")


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    cursor = con.execute(sql)
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value


# What the dashboard shows, each from one mart: (mart, SQL).
QUERIES = {
    "days": ("daily_summary", f"""SELECT date, {', '.join(DAY_COLUMNS)} FROM daily_summary WHERE category IS NULL
                                 ORDER BY date DESC LIMIT {HISTORY_DAYS}"""),
    "top_merchants": ("merchant_daily", f"""SELECT date, merchant_id, name, category, country, transactions, sales,
                      commission, fraud_rate FROM merchant_daily WHERE date = (SELECT max(date) FROM merchant_daily)
                      ORDER BY sales DESC, merchant_id LIMIT {TOP_MERCHANTS}"""),
    "segments": ("customer_segments", """SELECT date, rfm_segment, count(*) AS customers, sum(monetary) AS monetary,
                 sum(fraud_count) / sum(frequency) AS fraud_ratio FROM customer_segments
                 WHERE date = (SELECT max(date) FROM customer_segments)
                 GROUP BY date, rfm_segment ORDER BY monetary DESC"""),
}


def _latest(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not rows:
        return None
    return {"date": _jsonable(rows[0]["date"]),
            "rows": [{k: _jsonable(v) for k, v in r.items() if k != "date"} for r in rows]}


def _tables(settings: Settings, latest: date) -> dict[str, Any]:
    """What the dashboard needs, read by pyarrow with partition filters into memory: the last HISTORY_DAYS
    dates of daily_summary (the date rows), the latest date of the other marts. The filters keep a build's
    cost from growing with the dates published. And DuckDB then scans memory only: scanning a dataset on a
    Python filesystem (fsspec WebHDFS) itself deadlocked now and then, its thread holding the GIL inside
    pyarrow's scanner while an Arrow I/O thread waited for the GIL to call fsspec (bench/marts.py: 2 builds
    of 30 hung); pyarrow's own ``to_table`` releases the GIL while it waits."""
    import pyarrow.dataset as ds

    from paylake.marts import views

    first = latest - timedelta(days=HISTORY_DAYS - 1)
    filters = {"daily_summary": (ds.field("date") >= first) & (ds.field("date") <= latest)
               & ds.field("category").is_null(),
               "merchant_daily": ds.field("date") == latest, "customer_segments": ds.field("date") == latest}
    out = {}
    for mart, only in filters.items():
        found = views.mart_dataset(settings, mart)
        if found is not None:
            out[mart] = found.to_table(filter=only)
    return out


def marts_payload(settings: Settings, latest: date | None) -> dict[str, Any]:
    """The MARTS_HISTORY document up to the ``latest`` published date: ``days``, ``top_merchants`` and
    ``segments`` (empty / None before the first)."""
    import duckdb

    tables = _tables(settings, latest) if latest else {}
    con = duckdb.connect()
    try:
        for mart, table in tables.items():
            con.register(mart, table)
        got = {part: _rows(con, sql) if mart in tables else [] for part, (mart, sql) in QUERIES.items()}
    finally:
        con.close()
    return {"updated_at": now().isoformat(),
            "days": [{k: _jsonable(v) for k, v in d.items()} for d in reversed(got["days"])],
            "top_merchants": _latest(got["top_merchants"]), "segments": _latest(got["segments"])}


def latest_published(db: Database[Any]) -> date | None:
    newest = next(iter(db[names.MART_DATES].find({"state": "published"}, {"_id": 1}).sort("_id", -1).limit(1)), None)
    return date.fromisoformat(newest["_id"]) if newest else None


def gate_json(doc: dict[str, Any]) -> str:
    return json.dumps({"run_id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}}, default=_jsonable)


def publish(settings: Settings, db: Database[Any]) -> bool:
    """Write the marts history and the gate runs to Redis; False (with a warning) when Redis is down: the
    records stay in MongoDB and the cold store, and the next run publishes them."""
    payload = marts_payload(settings, latest_published(db))
    runs = results.recent(db)
    client = cache.connect(settings.redis_url)
    try:
        pipe = client.pipeline(transaction=True)
        pipe.set(names.MARTS_HISTORY, json.dumps(payload))
        pipe.delete(names.DQ_RECENT)
        if runs:
            pipe.set(names.DQ_LAST, gate_json(runs[0]))
            pipe.rpush(names.DQ_RECENT, *[gate_json(r) for r in runs])
        pipe.execute()
        return True
    except RedisError as exc:
        log.warning("the marts history was not published to Redis (%s); the next marts run publishes it", exc)
        return False
    finally:
        client.close()
