"""The local stack: real servers (MongoDB wire protocol, Redis, HDFS) started on 127.0.0.1."""
