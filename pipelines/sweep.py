"""Flow `sweep`: a grid of `dvc exp run` experiments run concurrently on a Dask cluster.

    python -m pipelines.sweep --target sms_evaluate@lstm-glove-packed --target sms_evaluate@gru-glove-packed \
        --param tasks.sms.train.hidden=32,64 --seeds 42,1 [--dask-address tcp://HOST:8786]

Every experiment = one target stage x one combination of params x one seed, run by a Dask worker
in its own clone of the baseline commit (rnnlab/experiments.py); workers share the DVC cache (one
machine) or a DVC remote, and the MLflow store. Results come back as DVC experiment refs and are
collected from `dvc exp show` into a comparison table (results/sweeps/NAME.md, a Prefect artifact)
and MLflow (experiment `rnnlab-sweeps`, one child run per experiment).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path

import pipelines  # noqa: F401  (environment defaults before Prefect loads)
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect_dask import DaskTaskRunner

from pipelines.settings import PROJECT
from rnnlab import atomic, experiments as X, tracking
from rnnlab.errors import RnnlabError

DEFAULT_TARGETS = ["sms_evaluate@lstm-glove-packed", "sms_evaluate@gru-glove-packed"]
DEFAULT_PARAMS = {"tasks.sms.train.hidden": [32, 64]}
DEFAULT_METRICS = ["accuracy", "macro_avg.f1_score"]


@task(cache_policy=NO_CACHE)
def run_experiment(exp: dict, origin: str, base_rev: str, workroot: str, cache_dir: str | None, env: dict) -> dict:
    """On a Dask worker: one experiment in a fresh clone, its output in this task's logs."""
    logger = get_run_logger()
    return X.run_in_clone(X.Experiment(**exp), origin, base_rev, Path(workroot), cache_dir,
                          {**os.environ, **env}, on_line=logger.info)


@flow(name="sweep-experiments")
def run_grid(experiments: list[dict], origin: str, base_rev: str, workroot: str, cache_dir: str | None,
             env: dict) -> dict[str, dict]:
    """Submit every experiment to the task runner (Dask); a failed one does not stop the others."""
    futures = {e["name"]: run_experiment.with_options(task_run_name=e["name"]).submit(
        e, origin, base_rev, workroot, cache_dir, env) for e in experiments}
    for future in futures.values():
        future.wait()
    return {name: {"status": "done", **f.result()} if f.state.is_completed()
            else {"status": f"failed: {f.state.message or f.state.name}"[:300]} for name, f in futures.items()}


def _git(project: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=project, capture_output=True, text=True, check=True).stdout.strip()


def _task_runner(dask_address: str | None, n_workers: int) -> DaskTaskRunner:
    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(cluster_class="distributed.LocalCluster",
                          cluster_kwargs={"n_workers": n_workers, "processes": True, "threads_per_worker": 1})


def _worker_env(project: Path, dask_address: str | None, n_workers: int) -> dict:
    """What every worker must agree on: the MLflow store, the corpus mirror, and (locally) CPU threads."""
    # local workers write one SQLite file at once: wait for its lock instead of failing after 5 s
    env = {"MLFLOW_TRACKING_URI": os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{project / 'mlflow.db'}?timeout=60"}
    if os.environ.get("RNNLAB_MIRROR"):
        env["RNNLAB_MIRROR"] = os.environ["RNNLAB_MIRROR"]
    if not dask_address:  # n workers on this machine's cores: more threads each would only contend
        env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // n_workers))
    return env


@contextmanager
def _environment(values: dict):
    """Set variables for the block (local Dask workers are started inside it and inherit them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _api_for_workers() -> dict:
    """Without a configured server, point local workers at this run's API, not one of their own."""
    if os.environ.get("PREFECT_API_URL"):
        return {}
    with get_client(sync_client=True) as client:
        return {"PREFECT_API_URL": str(client.api_url)}


@flow(name="sweep")
def sweep(targets: list[str] = DEFAULT_TARGETS, params: dict[str, list] = DEFAULT_PARAMS, seeds: list[int] = [42],
          metrics: list[str] = DEFAULT_METRICS, name: str | None = None, dask_address: str | None = None,
          n_workers: int = 2, origin: str | None = None, cache_dir: str | None = None,
          workdir: str | None = None, project: str | None = None) -> dict:
    """Run targets x params x seeds as DVC experiments on Dask and compare them.

    targets: dvc.yaml stages to reproduce per experiment (the variants), e.g. sms_evaluate@gru-glove-packed.
    params: params.yaml path -> values to try, e.g. {"tasks.sms.train.hidden": [32, 64]}.
    seeds: values for the global `seed` (split and initialisation).
    metrics: keys of the target stage's metrics file to compare (dotted for nested).
    dask_address: a running Dask scheduler (tcp://host:8786); none = a LocalCluster of n_workers processes.
    origin: git URL the workers clone and push experiments to (default: this project's directory).
    cache_dir: DVC cache the workers share (default: this project's without an origin; with one, the DVC remote).
    """
    logger = get_run_logger()
    root = Path(project or PROJECT).resolve()
    name = name or time.strftime("sweep-%Y%m%d-%H%M%S")
    grid = X.grid(name, targets, params, seeds)
    # no origin: workers clone this checkout and share its DVC cache (one machine or a shared disk);
    # an origin (a git URL all machines reach): workers pull inputs from and push to the DVC remote
    remote_origin, origin = origin, origin or str(root)
    cache_dir = cache_dir or (None if remote_origin else str(root / ".dvc" / "cache"))
    base_rev = _git(root, "rev-parse", "HEAD")
    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        logger.warning("the workspace has uncommitted changes: the sweep runs the committed %s", base_rev[:10])
    logger.info("%d experiments on %s", len(grid), dask_address or f"a local Dask cluster of {n_workers} workers")
    workroot = workdir or tempfile.mkdtemp(prefix=f"rnnlab-{name}-")
    env = _worker_env(root, dask_address, n_workers)
    # the driver logs the comparison to the same MLflow store the workers use
    with _environment({**_api_for_workers(), "MLFLOW_TRACKING_URI": env["MLFLOW_TRACKING_URI"]}):
        tracking.ensure_store()  # before the workers open it concurrently
        outcomes = run_grid.with_options(task_runner=_task_runner(dask_address, n_workers))(
            [asdict(e) for e in grid], origin, base_rev, workroot, cache_dir, env)
        return collect(root, name, grid, outcomes, metrics, remote_origin,
                       {"targets": targets, "params": params, "seeds": seeds, "base_rev": base_rev})


def collect(root: Path, name: str, grid: list[X.Experiment], outcomes: dict[str, dict], metrics: list[str],
            remote_origin: str | None, description: dict) -> dict:
    """`dvc exp show` -> comparison table (markdown file + Prefect artifact) and MLflow runs."""
    names = [e.name for e in grid]
    done = [n for n in names if outcomes.get(n, {}).get("status") == "done"]
    if remote_origin and done:
        subprocess.run(["dvc", "exp", "pull", "--no-cache", remote_origin, *done], cwd=root, check=True)
    files = {t: X.target_metric_files(root, t) for t in {e.target for e in grid}}
    shown = X.with_committed_metrics(root, X.exp_show(root, names), sorted({f for fs in files.values() for f in fs}))
    rows = X.comparison_rows(grid, shown, outcomes, files, metrics)
    markdown = X.comparison_markdown(f"sweep {name}", rows)
    table = root / "results" / "sweeps" / f"{name}.md"
    atomic.write_text(table, markdown)
    create_markdown_artifact(markdown, key="sweep-comparison", description=f"sweep {name}: dvc exp show")
    run_id = tracking.log_sweep(name, description, rows, metrics)
    get_run_logger().info("\n%s\ntable: %s   MLflow run: %s", markdown, table, run_id)
    failed = [n for n in names if outcomes.get(n, {}).get("status") != "done"]
    if failed:
        raise RnnlabError(f"sweep {name}: {len(failed)} of {len(names)} experiments failed: {', '.join(failed)}")
    return {"name": name, "table": str(table), "mlflow_run": run_id, "rows": rows,
            "workers": [{k: o.get(k) for k in ("name", "host", "pid", "seconds")} for o in outcomes.values()]}


def _param(text: str) -> tuple[str, list]:
    from rnnlab.params import read_yaml

    key, sep, values = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--param {text!r}: expected PATH=V1,V2,... (e.g. tasks.sms.train.hidden=32,64)")
    return key, [read_yaml(v) for v in values.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", action="append", help=f"stage per variant (default: {' '.join(DEFAULT_TARGETS)})")
    parser.add_argument("--param", action="append", type=_param, help="PATH=V1,V2 (repeatable)")
    parser.add_argument("--seeds", default="42", help="comma-separated seeds (default 42)")
    parser.add_argument("--metric", action="append", help=f"metric key to compare (default {DEFAULT_METRICS})")
    parser.add_argument("--name", help="sweep name (default sweep-DATE-TIME); prefixes every experiment")
    parser.add_argument("--dask-address", help="tcp://HOST:PORT of a running Dask scheduler")
    parser.add_argument("--workers", type=int, default=2, help="local Dask worker processes (default 2)")
    parser.add_argument("--origin", help="git URL workers clone and push to (default: this checkout)")
    parser.add_argument("--cache-dir", help="DVC cache shared by the workers")
    parser.add_argument("--project", help="DVC project directory (default: this checkout)")
    args = parser.parse_args(argv)
    sweep(targets=args.target or DEFAULT_TARGETS, params=dict(args.param) if args.param else DEFAULT_PARAMS,
          seeds=[int(s) for s in args.seeds.split(",") if s], metrics=args.metric or DEFAULT_METRICS,
          name=args.name, dask_address=args.dask_address, n_workers=args.workers, origin=args.origin,
          cache_dir=args.cache_dir, project=args.project)


if __name__ == "__main__":
    main()
