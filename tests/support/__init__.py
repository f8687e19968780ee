"""Helpers and fixtures shared by the test suites (import them from a conftest.py)."""
