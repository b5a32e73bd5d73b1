"""Operations: the Prometheus exporter of the pipeline's health (readings.py reads the stores, metrics.py turns
a reading into metric families) and the alert rules Prometheus evaluates (prometheus_rules.yml)."""
