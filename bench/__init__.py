"""Benchmarks: each module is a script (``python -m bench.<name> --size full``).

They print their figures beside a baseline measured in the same run on the same
machine, and the ratio between the two; see docs/performance.md.
"""
