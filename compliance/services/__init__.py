"""Writes of the compliance app, one module per subject (suppliers, provenance, ...)."""
