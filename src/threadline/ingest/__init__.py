"""Ingest: seized files into records with provenance, bad rows quarantined, nothing lost.

The stage's entry point is `threadline.ingest.pipeline.ingest`."""
