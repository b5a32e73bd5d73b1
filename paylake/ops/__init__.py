"""Operations: the Prometheus exporter of the pipeline's health (readings.py reads the stores, metrics.py turns
a reading into metric families) and the alert rules Prometheus evaluates (prometheus_rules.yml)."""

from pathlib import Path

# Package data (pyproject's package-data): present beside this file in a wheel install too.
RULES_FILE = Path(__file__).with_name("prometheus_rules.yml")
