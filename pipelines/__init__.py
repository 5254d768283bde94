"""Prefect flows that orchestrate the DVC pipeline (issue 5; not built yet)."""
