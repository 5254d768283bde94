"""Benchmark scripts for issue 7 (run from the project root: .venv/bin/python -m benchmarks.<name>)."""
