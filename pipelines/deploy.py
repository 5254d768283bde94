"""Register the flows with a Prefect work pool, for workers on other machines to run.

    python -m pipelines.deploy --pool rnnlab [--source GIT_URL_OR_PATH] [--cron "0 2 * * *"] [--project DIR]

Unlike `pipelines.serve` (runs in the serving process), a work-pool deployment is picked up by any
`prefect worker start --pool rnnlab` that polls the same Prefect server; the worker fetches the code
from --source (a git URL, or a path on a shared disk) and runs the flow in a subprocess.
"""

from __future__ import annotations

import argparse

import pipelines  # noqa: F401  (environment defaults before Prefect loads)
from prefect import Flow

from pipelines.settings import PROJECT


def deploy(pool: str, source: str, cron: str | None, project: str | None) -> list:
    """Create (or update) the pool's deployments: reproduce/pool-nightly (cron) and sweep/pool (on demand)."""
    ids = []
    for entrypoint, name, schedule in (("pipelines/reproduce.py:reproduce", "pool-nightly", cron),
                                       ("pipelines/sweep.py:sweep", "pool", None)):
        flow = Flow.from_source(source=source, entrypoint=entrypoint)
        ids.append(flow.deploy(name=name, work_pool_name=pool, cron=schedule, parameters={"project": project},
                               tags=["dvc"], print_next_steps=False))
    return ids


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", required=True, help="work pool name (create it: prefect work-pool create NAME --type process)")
    parser.add_argument("--source", default=str(PROJECT), help="where workers get the code: git URL or shared path")
    parser.add_argument("--cron", default="0 2 * * *", help="schedule of reproduce/pool-nightly (UTC)")
    parser.add_argument("--project", default=None, help="DVC project directory as the workers see it")
    args = parser.parse_args(argv)
    for deployment_id in deploy(args.pool, args.source, args.cron, args.project):
        print(f"deployment {deployment_id} in pool {args.pool!r}; start workers with: prefect worker start --pool {args.pool}")


if __name__ == "__main__":
    main()
