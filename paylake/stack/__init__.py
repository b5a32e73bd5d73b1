"""The local stack: real servers (MongoDB wire protocol, Redis, HDFS, Spark Connect, Prometheus) started on
127.0.0.1."""
