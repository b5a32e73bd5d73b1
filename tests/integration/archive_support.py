"""Ground truth for archive tests: load known transactions, and read hot and cold back independently."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from factories import make_records

from paylake import names, schema
from paylake.archive.coldfs import arrow_filesystem
from paylake.kpi.state import write_watermark
from paylake.settings import Settings

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def load(
    db: Any,
    count: int = 1200,
    step: timedelta = timedelta(minutes=2),
    prefix: str = "tx",
    start: datetime = T0,
    watermark: datetime | None = None,
    set_watermark: bool = True,
) -> list[dict[str, Any]]:
    """Insert ``count`` records (default: 40 event-time hours over two dates) and set the KPI watermark."""
    records = make_records(count, start, step=step, prefix=prefix)
    db[names.TRANSACTIONS].insert_many([schema.to_mongo(r) for r in records])
    if set_watermark:  # stands in for the KPI job having counted everything (or up to ``watermark``)
        write_watermark(db, watermark or max(r["ingest_time"] for r in records))
    return records


def hot_ids(db: Any) -> list[str]:
    return [d["_id"] for d in db[names.TRANSACTIONS].find({}, {"_id": 1})]


def cold_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every row in published batches, read with pyarrow over WebHDFS (not with the Spark that wrote them)."""
    import pyarrow.dataset as ds

    fs, root = arrow_filesystem(settings)
    base = f"{root}/transactions"
    from pyarrow.fs import FileType

    if fs.get_file_info(base).type != FileType.Directory:
        return []
    table = ds.dataset(base, filesystem=fs, format="parquet", partitioning="hive").to_table()
    return list(table.to_pylist())


def assert_exactly_once(settings: Settings, db: Any, expected: list[str], allow_in_flight: bool = False) -> None:
    """Each expected id is in hot or cold; none is lost, none is duplicated inside cold, none is invented;
    and (unless a batch may be in flight after a crash) none is in both."""
    hot = hot_ids(db)
    cold = [r["transaction_id"] for r in cold_rows(settings)]
    duplicated = [i for i, n in Counter(cold).items() if n > 1]
    assert not duplicated, f"{len(duplicated)} ids twice in cold, e.g. {duplicated[:3]}"
    assert set(hot) | set(cold) == set(expected), "a transaction was lost or invented"
    if not allow_in_flight:
        both = set(hot) & set(cold)
        assert not both, f"{len(both)} ids both hot and cold, e.g. {sorted(both)[:3]}"
