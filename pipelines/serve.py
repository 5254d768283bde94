"""Serve `reproduce` as a scheduled deployment and `sweep` as an on-demand one; runs execute in this
process until Ctrl-C.

    python -m pipelines.serve [--cron "0 2 * * *"] [--name nightly] [--project DIR] [--targets STAGE ...]

Start the servers first (`make servers`) and export the PREFECT_API_URL it prints, so the
deployment, its schedule and its runs show up in the UI, where each run's parameters can be edited.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pipelines  # noqa: F401  (environment defaults before Prefect loads)
from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment

from pipelines.reproduce import reproduce
from pipelines.sweep import sweep

# One run at a time in this process: every served flow works in the same DVC workspace,
# and two `dvc repro` in one workspace fail on DVC's lock.
CONCURRENT_RUNS = 1


def deployments(args: argparse.Namespace) -> list[RunnerDeployment]:
    """Everything `python -m pipelines.serve` serves; add further flows' deployments here."""
    project = str(Path(args.project).resolve()) if args.project else None
    return [
        reproduce.to_deployment(
            name=args.name,
            cron=args.cron,  # UTC
            # the defaults of a scheduled run; a manual run ("Custom run" in the UI, or
            # `prefect deployment run ... -p force=true`) can change each one
            parameters={"targets": args.targets or None, "force": False, "project": project},
            description="`dvc repro` of the DVC project, one task run per dvc.yaml stage",
            tags=["dvc"],
            # `pipelines.reproduce.reproduce` (installed package), not a file path relative to
            # the directory this was started in: runs then work whatever the working directory
            entrypoint_type=EntrypointType.MODULE_PATH,
        ),
        # no schedule: started from the UI, where targets, params and seeds are edited per run
        sweep.to_deployment(
            name="sms", parameters={"project": project},
            description="a grid of `dvc exp run` experiments on a Dask cluster, compared in a table and MLflow",
            tags=["dvc", "sweep"], entrypoint_type=EntrypointType.MODULE_PATH,
        ),
    ]


def api_url() -> str | None:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value()


def print_usage(served: list[RunnerDeployment]) -> None:
    url = api_url()
    if not url:
        print("PREFECT_API_URL is not set: serving against a temporary local API that no UI shows. "
              "Run `make servers` and export the PREFECT_API_URL it prints.", flush=True)
    else:
        print(f"Prefect API: {url}", flush=True)
    for deployment in served:
        schedules = ", ".join(str(getattr(s.schedule, "cron", s.schedule)) for s in deployment.schedules or [])
        print(f"Deployment '{deployment.flow_name}/{deployment.name}' (schedule: {schedules or 'none'}, UTC). "
              f"Run it now with:  prefect deployment run '{deployment.flow_name}/{deployment.name}'", flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cron", default="0 2 * * *", help="schedule, cron syntax in UTC (default: 02:00 daily)")
    parser.add_argument("--name", default="nightly", help="deployment name (default: nightly)")
    parser.add_argument("--project", default=None, help="DVC project directory (default: this checkout)")
    parser.add_argument("--targets", nargs="*", default=None, help="dvc.yaml stages (default: all)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    served = deployments(parse_args(argv))
    print_usage(served)
    serve(*served, limit=CONCURRENT_RUNS)


if __name__ == "__main__":
    main()
