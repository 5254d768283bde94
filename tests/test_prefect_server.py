"""Against a real `prefect server start` on loopback: a served deployment with a cron schedule,
a triggered run of it, and the UI showing that run in headless Chromium."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from prefect_fixtures import (PYTHON, TINY_OUTPUTS, TINY_STAGES, env, get_json, start_prefect_server, stop_group,
                              tail, tiny_dvc_project)

pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = start_prefect_server(tmp_path_factory.mktemp("prefect-home"))
    yield srv
    stop_group(srv.proc)


def poll(what: str, fetch, timeout: float, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (found := fetch()) is not None:
            return found
        time.sleep(1)
    raise AssertionError(f"no {what} within {timeout:.0f} s{tail(log)}")


def finished(api: str, flow_run_id: str):
    run = get_json(f"{api}/flow_runs/{flow_run_id}")
    return run if run["state_type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED") else None


def test_served_deployment_runs_on_demand_and_shows_in_the_ui(server, tmp_path):
    project = tiny_dvc_project(tmp_path / "project")
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        serve = subprocess.Popen([PYTHON, "-m", "pipelines.serve", "--project", str(project), "--cron", "0 3 * * *",
                                  "--name", "tiny"], env=env(PREFECT_API_URL=server.api, PREFECT_HOME=str(server.home)),
                                 stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    try:
        deployment = poll("deployment", lambda: next(iter(get_json(
            f"{server.api}/deployments/filter", {"deployments": {"name": {"any_": ["tiny"]}}})), None), 120, log)
        [schedule] = deployment["schedules"]
        assert schedule["schedule"]["cron"] == "0 3 * * *" and schedule["active"]
        assert deployment["parameters"]["project"] == str(project)
        sweep = poll("sweep deployment", lambda: next(iter(get_json(
            f"{server.api}/deployments/filter", {"deployments": {"name": {"any_": ["sms"]}}})), None), 60, log)
        assert sweep["schedules"] == [] and sweep["parameters"]["project"] == str(project)  # on demand only

        flow_run = get_json(f"{server.api}/deployments/{deployment['id']}/create_flow_run", {})
        run = poll("finished run", lambda: finished(server.api, flow_run["id"]), 180, log)
        assert run["state_type"] == "COMPLETED", tail(log)
    finally:
        stop_group(serve)
    tasks = get_json(f"{server.api}/task_runs/filter", {"flow_runs": {"id": {"any_": [flow_run["id"]]}}})
    assert sorted(t["name"] for t in tasks) == sorted(TINY_STAGES)
    assert {name: (project / name).read_text() for name in TINY_OUTPUTS} == TINY_OUTPUTS

    logs = poll("stage logs", lambda: (lambda text: text if "Running stage 'evaluate'" in text else None)("\n".join(
        log["message"] for log in get_json(f"{server.api}/logs/filter",
                                           {"logs": {"flow_run_id": {"any_": [flow_run["id"]]}}, "limit": 200}))), 30)
    assert all(f"Running stage '{stage}'" in logs for stage in TINY_STAGES)

    from browser import browser

    wanted = [run["name"], "Completed", f"{len(TINY_STAGES)} Task runs"] + [f"Running stage '{s}'" for s in TINY_STAGES]
    with browser() as chromium, chromium.open(f"{server.url}/runs/flow-run/{flow_run['id']}") as page:
        dom = page.wait_for(*wanted)  # the page fetches its logs after rendering
        assert [text for text in wanted if text not in dom] == []
        shot = page.screenshot(Path(os.environ.get("RNNLAB_UI_SCREENSHOT") or tmp_path / "flow-run.png"))
    assert shot.stat().st_size > 20_000


def test_a_work_pool_worker_runs_the_deployed_flow(server, tmp_path):
    """The several-machines setup: deployments in a process work pool, a `prefect worker` polling it."""
    project = tiny_dvc_project(tmp_path / "project")
    run_env = env(PREFECT_API_URL=server.api, PREFECT_HOME=str(server.home))
    prefect = str(Path(PYTHON).parent / "prefect")
    subprocess.run([prefect, "work-pool", "create", "rnnlab-test", "--type", "process"], env=run_env, check=True,
                   capture_output=True)
    subprocess.run([PYTHON, "-m", "pipelines.deploy", "--pool", "rnnlab-test", "--project", str(project),
                    "--cron", "0 4 * * *"], env=run_env, check=True, capture_output=True, cwd=tmp_path)
    [deployment] = get_json(f"{server.api}/deployments/filter", {"deployments": {"name": {"any_": ["pool-nightly"]}}})
    assert deployment["work_pool_name"] == "rnnlab-test" and deployment["schedules"][0]["schedule"]["cron"] == "0 4 * * *"

    log = tmp_path / "worker.log"
    with open(log, "w") as out:
        worker = subprocess.Popen([prefect, "worker", "start", "--pool", "rnnlab-test"], env=run_env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    try:
        flow_run = get_json(f"{server.api}/deployments/{deployment['id']}/create_flow_run", {})
        run = poll("finished run", lambda: finished(server.api, flow_run["id"]), 180, log)
        assert run["state_type"] == "COMPLETED", tail(log)
    finally:
        stop_group(worker)
    assert {name: (project / name).read_text() for name in TINY_OUTPUTS} == TINY_OUTPUTS
