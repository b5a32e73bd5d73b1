"""Package data, shipped in the wheel: the reference table the models train on."""

from pathlib import Path

# 50,000 rows simulated by `paylake reference` (paylake/generator/reference.py), 1.8 MB.
REFERENCE_CSV = Path(__file__).with_name("reference_transactions.csv.gz")
