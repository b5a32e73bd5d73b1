"""The servers of the local stack, each described as a Service built from Settings."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from pathlib import Path

from paylake.settings import Settings
from paylake.stack.checkout import BUILD_DIR, with_checkout_jars
from paylake.stack.hdfs_conf import JAVA17_ADD_OPENS, write_conf
from paylake.stack.process import Service, StackError

FERRETDB_BIN = BUILD_DIR / "bin" / "paylake-ferretdb"


def hadoop_jars(settings: Settings) -> Path:
    return Path(with_checkout_jars(settings).jars_dir or "") / "hadoop"


def _mongo_ping(uri: str) -> bool:
    import pymongo

    client: pymongo.MongoClient = pymongo.MongoClient(uri, serverSelectionTimeoutMS=1000, connectTimeoutMS=1000)
    with client:
        return bool(client.admin.command("ping").get("ok"))


def mongo_service(settings: Settings, run_dir: Path) -> Service:
    """A real ``mongod`` when one is on PATH, else FerretDB (SQLite backend) built by ``make setup``."""
    data_dir = settings.state_dir / "mongo"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = settings.mongo_port
    mongod = shutil.which("mongod")
    if mongod:
        argv = [mongod, "--bind_ip", "127.0.0.1", "--port", str(port), "--dbpath", str(data_dir), "--quiet"]
        label = "mongod"
    else:
        if not FERRETDB_BIN.exists():
            raise StackError(f"no mongod on PATH and FerretDB is not built at {FERRETDB_BIN}: run `make setup`")
        argv = [str(FERRETDB_BIN), "-listen", f"127.0.0.1:{port}", "-dir", str(data_dir)]
        label = "FerretDB/SQLite"
    return Service(
        name="mongo",
        argv=argv,
        run_dir=run_dir,
        ports=[port],
        healthy=lambda: _mongo_ping(settings.mongo_uri),
        address=f"{settings.mongo_uri} ({label})",
    )


def redis_service(settings: Settings, run_dir: Path) -> Service:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(binary).exists():
        raise StackError("redis-server is not installed: run `make setup` (it installs Debian's redis-server)")
    data_dir = settings.state_dir / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = settings.redis_port
    argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir)]
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]  # a cache: the KPI job republishes it

    def ping() -> bool:
        import redis

        return bool(redis.Redis.from_url(settings.redis_url, socket_timeout=1).ping())

    return Service("redis", argv, run_dir, [port], ping, settings.redis_url)


def _java(settings: Settings, hdfs_dir: Path, conf: Path, daemon: str, main: str) -> list[str]:
    jars = hadoop_jars(settings)
    if not any(jars.glob("hadoop-hdfs-*.jar")):
        raise StackError(f"Hadoop jars are missing in {jars}: run `make setup`")
    java = shutil.which("java")
    if not java:
        raise StackError("java is not on PATH: HDFS needs a Java 17 runtime")
    logs = hdfs_dir / "logs"
    props = [f"-Dhadoop.log.dir={logs}", f"-Dhadoop.log.file={daemon}.log", "-Dhadoop.root.logger=INFO,RFA"]
    props += [f"-Dlog4j.configuration=file:{conf / 'log4j.properties'}", "-Xmx512m"]
    return [java, *JAVA17_ADD_OPENS, *props, "-cp", f"{conf}:{jars}/*", main]


def _namenode_info(settings: Settings) -> dict[str, object]:
    url = f"{settings.webhdfs_url}/jmx?qry=Hadoop:service=NameNode,name=NameNodeInfo"
    with urllib.request.urlopen(url, timeout=2) as resp:
        beans = json.load(resp)["beans"]
    return beans[0] if beans else {}


def hdfs_ready(settings: Settings) -> bool:
    """Out of safe mode, a live DataNode, and a WebHDFS listing of / answers."""
    info = _namenode_info(settings)
    if info.get("Safemode") or json.loads(str(info.get("LiveNodes") or "{}")) == {}:
        return False
    url = f"{settings.webhdfs_url}/webhdfs/v1/?op=LISTSTATUS&user.name={settings.hdfs_user}"
    with urllib.request.urlopen(url, timeout=2) as resp:
        return resp.status == 200


def format_namenode(settings: Settings, hdfs_dir: Path) -> None:
    """Format the NameNode's metadata directory once (first start only)."""
    if (hdfs_dir / "name" / "current" / "VERSION").exists():
        return
    conf = write_conf(settings, hdfs_dir)
    main = "org.apache.hadoop.hdfs.server.namenode.NameNode"
    argv = _java(settings, hdfs_dir, conf, "namenode-format", main) + ["-format", "-nonInteractive", "-force"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise StackError(f"formatting the HDFS NameNode failed:\n{done.stderr[-2000:]}")


def hdfs_services(settings: Settings, run_dir: Path) -> list[Service]:
    hdfs_dir = settings.state_dir / "hdfs"
    conf = write_conf(settings, hdfs_dir)
    nn_main = "org.apache.hadoop.hdfs.server.namenode.NameNode"
    dn_main = "org.apache.hadoop.hdfs.server.datanode.DataNode"
    namenode = Service(
        name="hdfs-namenode",
        argv=_java(settings, hdfs_dir, conf, "namenode", nn_main),
        run_dir=run_dir,
        ports=[settings.namenode_port, settings.webhdfs_port],
        healthy=lambda: bool(_namenode_info(settings)),
        address=f"hdfs://127.0.0.1:{settings.namenode_port} (WebHDFS {settings.webhdfs_url})",
        start_timeout_s=120,
    )
    datanode = Service(
        name="hdfs-datanode",
        argv=_java(settings, hdfs_dir, conf, "datanode", dn_main),
        run_dir=run_dir,
        ports=list(settings.hdfs_datanode_ports),
        healthy=lambda: hdfs_ready(settings),
        address=f"DataNode 127.0.0.1:{settings.hdfs_datanode_ports[0]}",
        start_timeout_s=120,
    )
    return [namenode, datanode]
