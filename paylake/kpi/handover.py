"""Files a KPI loop leaves for the next one (one kpi_refresh run each 5 minutes): Arrow IPC, one per kind and
database, taken once.

A loop keeps on its driver what it would otherwise re-read at every refresh (the rules' lookback rows, the
customers it met). A new loop starts empty, so its first refresh paid for all of it again, beside whatever
else ran then. A loop that ends well writes what it kept; the next loop's first refresh takes the file if
the condition it was written under (in the file's metadata) still holds, and removes it either way. A file
is written atomically (a crash leaves the previous one or none), and a missing, partial or unreadable one
only costs the reads it would have saved.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paylake.settings import Settings

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger(__name__)

_META = b"paylake.kpi.handover"  # the schema metadata key: the writer's condition, as JSON


def path(settings: Settings, kind: str) -> Path:
    """Where loops of this database and server leave ``kind`` (tests and benches share a state dir)."""
    server = hashlib.sha256(settings.mongo_uri.encode()).hexdigest()[:12]
    return settings.state_dir / "kpi" / f"{kind}-{settings.mongo_db}-{server}.arrow"


def write(file: Path, table: pa.Table, condition: dict[str, Any]) -> None:
    """Leave ``table`` in ``file`` with the JSON-able ``condition`` under which the next loop may use it."""
    import pyarrow as pa

    meta = {_META: json.dumps(condition).encode()}
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, table.schema.with_metadata(meta)) as out:
        out.write_table(table)
    os.replace(partial, file)


def take(file: Path) -> tuple[pa.Table, dict[str, Any]] | None:
    """The table and condition left in ``file`` (None when there is none or it is unreadable); the file is
    removed either way: the caller checks the condition, and a file not used now is stale later."""
    import pyarrow as pa

    if not file.exists():
        return None
    try:
        with pa.OSFile(str(file), "rb") as source:
            table = pa.ipc.open_file(source).read_all()
        condition = json.loads((table.schema.metadata or {})[_META])
    except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
        log.warning("kpi: the previous loop's file %s is unreadable, reading MongoDB instead: %s", file, exc)
        return None
    finally:
        file.unlink(missing_ok=True)
    return table.replace_schema_metadata(None), condition
