"""The batch layer: daily marts over hot ∪ cold with data-quality gates (see job.py for the order of a build)."""
