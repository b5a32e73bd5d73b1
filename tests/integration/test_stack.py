"""The servers the fixtures start are real: each answers its own protocol."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from factories import make_records

from paylake.settings import Settings
from paylake.stack import manager
from paylake.stack.checkout import JARS_DIR
from paylake.stack.process import Service, StackError


def test_mongo_wire_protocol_server(mongo_db) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    docs = [{"_id": f"t{i}", "amount": float(i), "ts": start + timedelta(seconds=i)} for i in range(500)]
    result = mongo_db.tx.insert_many(docs, ordered=False)
    assert len(result.inserted_ids) == 500
    assert mongo_db.tx.count_documents({"amount": {"$gte": 100}}) == 400
    found = list(mongo_db.tx.find({"amount": {"$lt": 3}}).sort("amount", -1))
    assert [d["_id"] for d in found] == ["t2", "t1", "t0"]
    assert found[0]["ts"] == start + timedelta(seconds=2)
    assert mongo_db.command("dbStats")["dataSize"] > 0
    assert mongo_db.tx.delete_many({"amount": {"$lt": 250}}).deleted_count == 250
    assert mongo_db.tx.count_documents({}) == 250


def test_a_write_waits_out_a_long_held_sqlite_lock(settings: Settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    """paylake's FerretDB waits up to a minute for SQLite's one write lock (main.go), not FerretDB's default
    10 s: a soak's archive run failed with SQLITE_BUSY beside inserts, deletes and the KPI's writes."""
    import sqlite3
    import threading
    import time

    mongo_db["held"].insert_one({"_id": 0})  # the database's SQLite file now exists
    path = settings.state_dir / "mongo" / f"{settings.mongo_db}.sqlite"
    assert path.exists(), f"{path}: the stack's server is not paylake's FerretDB on SQLite"
    locked, hold_s = threading.Event(), 12.0

    def hold() -> None:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")  # the write lock, as a long writer holds it
        locked.set()
        time.sleep(hold_s)
        conn.execute("COMMIT")
        conn.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(30)
    started = time.monotonic()
    mongo_db["held"].insert_one({"_id": 1})  # waits for the lock instead of failing at 10 s
    waited = time.monotonic() - started
    holder.join()
    assert waited > 10.0 and mongo_db["held"].count_documents({}) == 2


def test_redis_set_get_pipeline(redis_client) -> None:  # type: ignore[no-untyped-def]
    redis_client.set("k", "v")
    assert redis_client.get("k") == "v"
    pipe = redis_client.pipeline(transaction=True)
    for i in range(10):
        pipe.hset("h", f"f{i}", i)
    pipe.execute()
    assert redis_client.hlen("h") == 10


def test_spark_writes_parquet_to_hdfs_read_back_over_webhdfs(spark, settings: Settings) -> None:  # type: ignore[no-untyped-def]
    from hdfs import InsecureClient

    target = f"{settings.cold_uri}/smoke"
    spark.range(1000).selectExpr("id", "id * 2 as twice").coalesce(1).write.parquet(target)
    client = InsecureClient(settings.webhdfs_url, user=settings.hdfs_user)
    directory = f"{settings.cold_path}/smoke"
    parts = [name for name in client.list(directory) if name.endswith(".parquet")]
    assert len(parts) == 1
    with client.read(f"{directory}/{parts[0]}") as reader:
        table = pq.read_table(io.BytesIO(reader.read()))
    assert table.num_rows == 1000
    assert sum(table.column("twice").to_pylist()) == 2 * sum(range(1000))


def test_spark_reads_mongo_through_connector(spark, settings: Settings, mongo_db) -> None:  # type: ignore[no-untyped-def]
    from paylake import schema
    from paylake.spark import MONGO_PARTITIONER, read_mongo

    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = make_records(300, start, step=timedelta(minutes=1))
    for i, record in enumerate(records):
        record["amount"] = float(i + 1)
    mongo_db.transactions.insert_many([schema.to_mongo(r) for r in records])
    frame = read_mongo(spark, settings, "transactions", schema.spark_schema(mongo=True), partition_size_mb=1,
                       partitioner=MONGO_PARTITIONER)
    assert frame.count() == 300
    assert frame.agg({"amount": "sum"}).collect()[0][0] == sum(range(1, 301))
    pipeline = '[{"$match": {"amount": {"$gt": 200}}}]'
    assert read_mongo(spark, settings, "transactions", schema.spark_schema(mongo=True), pipeline).count() == 100
    first = frame.orderBy("event_time").first()
    assert first["_id"] == "tx00000000" and first["event_time"].replace(tzinfo=UTC) == start


def test_status_is_truthful_and_taken_port_is_named(stack_settings: Settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert all(s.healthy for s in manager.status(stack_settings))
    squatter = Service("squatter", ["true"], tmp_path, [stack_settings.redis_port], lambda: True, "-")
    with pytest.raises(StackError, match=f"port {stack_settings.redis_port} .* already taken"):
        squatter.start()
    stopped = stack_settings.with_overrides(state_dir=tmp_path, mongo_uri="mongodb://127.0.0.1:1")
    assert not any(s.healthy for s in manager.status(stopped)[:1])


def test_up_then_down_leaves_no_process(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from paylake.stack.process import free_port, group_alive

    own = Settings(
        state_dir=tmp_path,
        mongo_uri=f"mongodb://127.0.0.1:{free_port()}",
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        cold_uri=f"file://{tmp_path}/cold",
        spark_remote=f"sc://127.0.0.1:{free_port()}",
        jars_dir=JARS_DIR,
        prometheus_port=free_port(),
        metrics_port=free_port(),
    )
    try:
        statuses = manager.up(own, echo=lambda _line: None)
        assert [s.name for s in statuses] == ["mongo", "redis", "spark-connect", "prometheus"]
        assert all(s.healthy for s in statuses)
        pids = [s.pid for s in statuses]
        assert manager.up(own, echo=lambda _line: None) == statuses  # idempotent: nothing restarted
    finally:  # a failed assertion must not leave four servers behind
        manager.down(own, echo=lambda _line: None)
    assert not any(group_alive(pid) for pid in pids if pid)
    assert [(s.pid, s.healthy) for s in manager.status(own)] == [(None, False)] * 4
