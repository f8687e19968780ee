"""Writes of the fulfillment app, one module per subject (batches, imports, ...)."""
