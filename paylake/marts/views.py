"""The published marts as tables for SQL: pyarrow datasets over ``marts/<mart>/`` (hive ``date`` partitions,
read in place from HDFS or local files), registered as DuckDB views beside ``transactions`` and ``archive``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from paylake.archive.coldfs import arrow_filesystem
from paylake.marts.store import MARTS, ROOT
from paylake.settings import Settings

if TYPE_CHECKING:
    import duckdb
    import pyarrow.dataset as ds


def mart_dataset(settings: Settings, mart: str) -> ds.Dataset | None:
    """Every published date of ``mart`` as one dataset with a ``date`` column (None before the first)."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow.fs import FileSelector, FileType

    fs, root = arrow_filesystem(settings)
    base = f"{root}/{ROOT}/{mart}"
    if fs.get_file_info(base).type != FileType.Directory or not fs.get_file_info(FileSelector(base)):
        return None
    parts = ds.partitioning(pa.schema([("date", pa.date32())]), flavor="hive")
    return ds.dataset(base, filesystem=fs, format="parquet", partitioning=parts)


def register(con: duckdb.DuckDBPyConnection, settings: Settings, wanted: set[str] | None = None) -> list[str]:
    """Add a view per published mart (those in ``wanted`` only, when given); return the marts added."""
    added = []
    for mart in MARTS:
        if wanted is not None and mart not in wanted:
            continue
        found = mart_dataset(settings, mart)
        if found is not None:
            # In memory (marts are small): DuckDB scanning a dataset on the Python (fsspec WebHDFS) filesystem
            # can deadlock on the GIL with Arrow's I/O threads (../FACTS.md; bench/marts.py saw it).
            con.register(f"{mart}_arrow", found.to_table())
            con.execute(f"CREATE TEMP VIEW {mart} AS SELECT * FROM {mart}_arrow")
            added.append(mart)
    return added
