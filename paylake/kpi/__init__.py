"""KPIs: per-minute buckets in MongoDB, published to Redis as atomic snapshots."""
