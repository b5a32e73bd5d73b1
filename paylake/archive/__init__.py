"""Archiving: move the oldest, already-counted hot transactions to HDFS Parquet, losing nothing.

``size`` measures the hot store, ``plan`` picks ranges (pure), ``coldfs`` does cold-storage I/O,
``manifest`` records batches, ``job`` runs the protocol (under ``paylake.lock``), ``query`` answers SQL
over hot ∪ cold, ``commands`` is the CLI.
"""
