"""Configuration files for a single-node HDFS (one NameNode, one DataNode) on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

from paylake.settings import Settings

# Hadoop's own launcher passes these on Java 17 (hadoop-functions.sh, HADOOP_OPTS for JDK 17).
JAVA17_ADD_OPENS = [
    f"--add-opens=java.base/{pkg}=ALL-UNNAMED"
    for pkg in (
        "java.io",
        "java.lang",
        "java.lang.reflect",
        "java.math",
        "java.net",
        "java.text",
        "java.util",
        "java.util.concurrent",
        "java.util.zip",
        "sun.security.util",
        "sun.security.x509",
    )
]

LOG4J = """\
log4j.rootLogger=INFO,RFA
log4j.appender.RFA=org.apache.log4j.RollingFileAppender
log4j.appender.RFA.File=${hadoop.log.dir}/${hadoop.log.file}
log4j.appender.RFA.MaxFileSize=16MB
log4j.appender.RFA.MaxBackupIndex=2
log4j.appender.RFA.layout=org.apache.log4j.PatternLayout
log4j.appender.RFA.layout.ConversionPattern=%d{ISO8601} %p %c{2}: %m%n
log4j.logger.org.apache.hadoop.util.NativeCodeLoader=ERROR
"""


def _xml(props: dict[str, str]) -> str:
    body = "\n".join(
        f"  <property><name>{name}</name><value>{value}</value></property>" for name, value in props.items()
    )
    return f'<?xml version="1.0"?>\n<configuration>\n{body}\n</configuration>\n'


def write_conf(settings: Settings, hdfs_dir: Path) -> Path:
    """Write core-site.xml, hdfs-site.xml and log4j.properties under ``hdfs_dir/conf``; return that dir."""
    conf = hdfs_dir / "conf"
    conf.mkdir(parents=True, exist_ok=True)
    transfer, http, ipc = settings.hdfs_datanode_ports
    core = {"fs.defaultFS": f"hdfs://127.0.0.1:{settings.namenode_port}", "hadoop.tmp.dir": str(hdfs_dir / "tmp")}
    hdfs = {
        "dfs.replication": "1",
        "dfs.namenode.name.dir": f"file://{hdfs_dir / 'name'}",
        "dfs.datanode.data.dir": f"file://{hdfs_dir / 'data'}",
        "dfs.webhdfs.enabled": "true",
        "dfs.permissions.enabled": "false",
        "dfs.namenode.rpc-address": f"127.0.0.1:{settings.namenode_port}",
        "dfs.namenode.http-address": f"127.0.0.1:{settings.webhdfs_port}",
        "dfs.namenode.secondary.http-address": "127.0.0.1:0",
        "dfs.datanode.address": f"127.0.0.1:{transfer}",
        "dfs.datanode.http.address": f"127.0.0.1:{http}",
        "dfs.datanode.ipc.address": f"127.0.0.1:{ipc}",
        "dfs.datanode.hostname": "127.0.0.1",  # WebHDFS redirects must resolve to loopback
        "dfs.namenode.datanode.registration.ip-hostname-check": "false",
        "dfs.namenode.safemode.extension": "0",
        "dfs.namenode.safemode.min.datanodes": "0",
        "dfs.heartbeat.interval": "1",
        "dfs.namenode.heartbeat.recheck-interval": "5000",
    }
    (conf / "core-site.xml").write_text(_xml(core))
    (conf / "hdfs-site.xml").write_text(_xml(hdfs))
    (conf / "log4j.properties").write_text(LOG4J)
    _write_webapps(conf)
    return conf


WEB_XML = """<?xml version="1.0" encoding="UTF-8"?>
<web-app xmlns="http://xmlns.jcp.org/xml/ns/javaee" version="3.1"></web-app>
"""


def _write_webapps(conf: Path) -> None:
    """The daemons' HTTP servers look up ``webapps/<name>`` on the classpath. The Maven jars do not carry
    those folders (the Hadoop tarball does), and WebHDFS and JMX are servlets that need none of their
    content, so empty web apps under the conf dir (first on the classpath) are enough."""
    for name in ("hdfs", "datanode", "secondary"):
        web_inf = conf / "webapps" / name / "WEB-INF"
        web_inf.mkdir(parents=True, exist_ok=True)
        (web_inf / "web.xml").write_text(WEB_XML)
