"""Prefect flows over the DVC pipeline: `reproduce` (one task per dvc.yaml stage) and `sweep`
(`dvc exp run` grids on a Dask cluster); `serve` and `servers` put them behind the Prefect UI."""

from pipelines.settings import apply_defaults

apply_defaults()
