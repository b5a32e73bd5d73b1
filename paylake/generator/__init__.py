"""The transaction generator: reference simulator, dimensions, CTGAN model, record building, ingest, stream."""
