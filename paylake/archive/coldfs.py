"""Cold-storage I/O for both archive roots: ``hdfs://`` (through WebHDFS, the ``hdfs`` package) and ``file://``.

Everything the archive does on cold storage — Parquet files, listing, renaming, JSON manifests, sizes,
clean-up — goes through this one small interface (Spark jobs, such as the marts, write through ``uri``). Paths are
relative to the archive root (``settings.cold_path``).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

from paylake.errors import ServiceError
from paylake.settings import Settings


class ColdStoreError(ServiceError):
    """Cold storage cannot be reached or refused an operation; the message names the URL."""


class ColdFS(Protocol):
    root_uri: str

    def uri(self, rel: str) -> str: ...
    def exists(self, rel: str) -> bool: ...
    def list(self, rel: str) -> list[str]: ...
    def makedirs(self, rel: str) -> None: ...
    def rename(self, src: str, dst: str) -> None: ...
    def delete(self, rel: str) -> None: ...
    def size(self, rel: str) -> int: ...
    def write_json(self, rel: str, data: dict[str, Any]) -> None: ...
    def read_json(self, rel: str) -> dict[str, Any] | None: ...
    def write_bytes(self, rel: str, data: bytes) -> None: ...
    def read_bytes(self, rel: str) -> bytes: ...
    def files(self, rel: str) -> Sequence[str]: ...  # every file under ``rel``, recursively, as paths from the root


class LocalFS:
    """A ``file://`` archive root: the embedded fallback and handy for a laptop."""

    def __init__(self, root_uri: str) -> None:
        self.root_uri = root_uri.rstrip("/")
        self.root = Path(urlparse(root_uri).path)

    def _p(self, rel: str) -> Path:
        return self.root / rel.strip("/")

    def uri(self, rel: str) -> str:
        return f"file://{self._p(rel)}"

    def exists(self, rel: str) -> bool:
        return self._p(rel).exists()

    def list(self, rel: str) -> list[str]:
        path = self._p(rel)
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    def makedirs(self, rel: str) -> None:
        self._p(rel).mkdir(parents=True, exist_ok=True)

    def rename(self, src: str, dst: str) -> None:
        self._p(dst).parent.mkdir(parents=True, exist_ok=True)
        self._p(src).rename(self._p(dst))  # atomic within one filesystem

    def delete(self, rel: str) -> None:
        path = self._p(rel)
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()

    def size(self, rel: str) -> int:
        path = self._p(rel)
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else path.stat().st_size

    def write_json(self, rel: str, data: dict[str, Any]) -> None:
        path = self._p(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(path)

    def read_json(self, rel: str) -> dict[str, Any] | None:
        path = self._p(rel)
        return json.loads(path.read_text()) if path.exists() else None

    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self._p(rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def read_bytes(self, rel: str) -> bytes:
        return self._p(rel).read_bytes()

    def files(self, rel: str) -> Sequence[str]:
        base = self._p(rel)
        return sorted(str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file()) if base.is_dir() else []


class WebHdfsFS:
    """An ``hdfs://`` archive root, reached over WebHDFS (no libhdfs needed); renames are NameNode-atomic."""

    def __init__(self, settings: Settings) -> None:
        from hdfs import InsecureClient

        logging.getLogger("hdfs.client").setLevel(logging.WARNING)  # it logs every call at INFO
        self.root_uri = settings.cold_uri.rstrip("/")
        self.root = settings.cold_path
        self.url = settings.webhdfs_url
        self.client = InsecureClient(settings.webhdfs_url, user=settings.hdfs_user, timeout=60)

    def _p(self, rel: str) -> str:
        return f"{self.root.rstrip('/')}/{rel.strip('/')}".rstrip("/") or "/"

    def _call(self, what: str, func: Any, *args: Any, **kwargs: Any) -> Any:
        from hdfs.util import HdfsError
        from requests.exceptions import RequestException

        try:
            return func(*args, **kwargs)
        except RequestException as exc:
            raise ColdStoreError(f"HDFS (WebHDFS {self.url}) is unreachable during {what}: {exc}") from exc
        except HdfsError as exc:
            raise ColdStoreError(f"HDFS (WebHDFS {self.url}) refused {what}: {exc}") from exc

    def uri(self, rel: str) -> str:
        return f"{self.root_uri}/{rel.strip('/')}".rstrip("/")

    def exists(self, rel: str) -> bool:
        return self._call(f"status {rel}", self.client.status, self._p(rel), strict=False) is not None

    def list(self, rel: str) -> list[str]:
        if not self.exists(rel):
            return []
        return sorted(self._call(f"list {rel}", self.client.list, self._p(rel)))

    def makedirs(self, rel: str) -> None:
        self._call(f"mkdirs {rel}", self.client.makedirs, self._p(rel))

    def rename(self, src: str, dst: str) -> None:
        parent = dst.rstrip("/").rsplit("/", 1)[0] if "/" in dst.strip("/") else ""
        self.makedirs(parent)  # HDFS rename fails when the destination's parent is missing
        self._call(f"rename {src} -> {dst}", self.client.rename, self._p(src), self._p(dst))

    def delete(self, rel: str) -> None:
        self._call(f"delete {rel}", self.client.delete, self._p(rel), recursive=True)

    def size(self, rel: str) -> int:
        return int(self._call(f"content {rel}", self.client.content, self._p(rel))["length"])

    def write_json(self, rel: str, data: dict[str, Any]) -> None:
        text = json.dumps(data, indent=2, sort_keys=True)
        self._call(f"write {rel}", self.client.write, self._p(rel), data=text, overwrite=True, encoding="utf-8")

    def read_json(self, rel: str) -> dict[str, Any] | None:
        if not self.exists(rel):
            return None

        def read() -> dict[str, Any]:
            with self.client.read(self._p(rel), encoding="utf-8") as reader:
                return dict(json.loads(reader.read()))

        return dict(self._call(f"read {rel}", read))

    def write_bytes(self, rel: str, data: bytes) -> None:
        self._call(f"write {rel}", self.client.write, self._p(rel), data=data, overwrite=True)

    def read_bytes(self, rel: str) -> bytes:
        def read() -> bytes:
            with self.client.read(self._p(rel)) as reader:
                return bytes(reader.read())

        return bytes(self._call(f"read {rel}", read))

    def files(self, rel: str) -> Sequence[str]:
        if not self.exists(rel):
            return []
        walk = self._call(f"walk {rel}", lambda: list(self.client.walk(self._p(rel))))
        root = self.root.rstrip("/")
        return sorted(f"{top}/{name}"[len(root) :].lstrip("/") for top, _dirs, names in walk for name in names)


def open_cold(settings: Settings) -> ColdFS:
    return WebHdfsFS(settings) if settings.cold_is_hdfs else LocalFS(settings.cold_uri)


def arrow_filesystem(settings: Settings) -> tuple[Any, str]:
    """A pyarrow filesystem and the root path inside it, for reading the Parquet files from Python."""
    import pyarrow.fs as pafs

    if not settings.cold_is_hdfs:
        return pafs.LocalFileSystem(), settings.cold_path
    import fsspec

    web = urlparse(settings.webhdfs_url)
    fs = fsspec.filesystem("webhdfs", host=web.hostname, port=web.port or 9870, user=settings.hdfs_user)
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), settings.cold_path
