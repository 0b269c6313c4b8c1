"""Benchmarks of the book service: `python -m bench.run` (see bench/RESULTS.md)."""
