"""The Prefect flows on real DVC projects, under Prefect's test harness (a real temporary API).

`reproduce` runs a small copy of the project stage by stage; `sweep` runs a grid of `dvc exp run`
experiments on a real 2-process Dask LocalCluster.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from project_fixtures import make_project, project_env, run, small_params
from rnnlab import dvcrun

pytestmark = pytest.mark.slow
TARGET = "sms_evaluate@lstm-learned-packed"
TRAIN = "sms_train@lstm-learned-packed"


@pytest.fixture(scope="module")
def harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture
def client(harness):
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as c:
        yield c


def tiny_sms(mirror: Path, path: Path, monkeypatch) -> Path:
    """A copy of the project cut down to SMS with two small variants; downloads done and committed."""
    params = small_params(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))
    sms = params["tasks"]["sms"]
    sms.update(max_rows=300, models=["lstm", "gru"], seed_runs=[], extra_seeds=[])
    sms["embeddings"].update(kinds=["learned"])
    sms["train"].update(max_epochs=2, hidden=8)
    env = project_env(path, mirror)
    env["RNNLAB_MIRROR"] = str(mirror)
    make_project(path, params, env, ("download@sms_spam", "download@glove_6b_100d_slice"))
    run(["git", "add", "-A"], path, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "downloads"], path, env)
    for name in ("PYTHONPATH", "RNNLAB_MIRROR"):  # the stages run in this process's environment
        monkeypatch.setenv(name, env[name])
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return path


def flow_run_of(state):
    return state.state_details.flow_run_id


def task_runs(client, flow_run_id):
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    return client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))


def logs_of(client, task_run_id) -> str:
    from prefect.client.schemas.filters import LogFilter, LogFilterTaskRunId
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    logs = client.read_logs(log_filter=LogFilter(task_run_id=LogFilterTaskRunId(any_=[task_run_id])))
    return "\n".join(log.message for log in logs)


def summary_artifact(client, flow_run_id) -> str:
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    found = client.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
    return "\n".join(a.data for a in found if a.key == "reproduce-summary")


def set_param(project: Path, key: str, value) -> None:
    params = yaml.safe_load((project / "params.yaml").read_text(encoding="utf-8"))
    params["tasks"]["sms"]["train"][key] = value
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def test_reproduce_runs_every_stage_as_a_task_in_dependency_order(mirror, tmp_path, monkeypatch, client):
    from pipelines.reproduce import reproduce

    project = tiny_sms(mirror, tmp_path / "p", monkeypatch)
    order = dvcrun.stage_order(project, [TARGET])
    downloads = ["download@sms_spam", "download@glove_6b_100d_slice"]
    assert sorted(order) == sorted(downloads + ["sms_prepare", "sms_vocab", "sms_embeddings@learned", TRAIN, TARGET])
    assert (order.index("sms_prepare") < order.index("sms_vocab") < order.index("sms_embeddings@learned")
            < order.index(TRAIN) < order.index(TARGET))

    state = reproduce(targets=[TARGET], project=str(project), return_state=True)
    first = state.result()
    assert list(first["stages"]) == order
    assert all(first["stages"][s] == (dvcrun.UNCHANGED if s in downloads else dvcrun.RAN) for s in order)
    assert "metrics/sms/lstm-learned-packed.json:accuracy" in first["metrics_changed"]

    runs = {r.name: r for r in task_runs(client, flow_run_of(state))}
    assert set(runs) == set(order) and all(r.state.is_completed() for r in runs.values())
    upstream = {i.id for i in runs[TARGET].task_inputs["wait_for"]}
    assert runs[TRAIN].id in upstream and runs["sms_prepare"].id in upstream
    assert "> python -m stages.classification.train sms lstm learned packed" in logs_of(client, runs[TRAIN].id)
    assert "best epoch" in logs_of(client, runs[TRAIN].id)  # the stage's own print
    summary = summary_artifact(client, flow_run_of(state))
    assert "**5** ran" in summary and "metrics/sms/lstm-learned-packed.json | accuracy" in summary
    metrics = (project / "metrics/sms/lstm-learned-packed.json").read_bytes()

    again = reproduce(targets=[TARGET], project=str(project))
    assert set(again["stages"].values()) == {dvcrun.UNCHANGED} and again["metrics_changed"] == []

    set_param(project, "hidden", 12)
    moved = reproduce(targets=[TARGET], project=str(project))
    assert moved["stages"][TRAIN] == dvcrun.RAN and moved["stages"]["sms_prepare"] == dvcrun.UNCHANGED
    set_param(project, "hidden", 8)
    back = reproduce(targets=[TARGET], project=str(project))
    assert back["stages"][TRAIN] == dvcrun.RESTORED
    assert back["stages"][TARGET] == dvcrun.RESTORED
    assert (project / "metrics/sms/lstm-learned-packed.json").read_bytes() == metrics


def test_with_jobs_independent_stages_are_concurrent_task_runs(tmp_path, monkeypatch, client):
    """--jobs 2: the two independent 1-s stages of a small project overlap as task runs in Prefect,
    and the join's task run waits on both."""
    from pipelines.reproduce import reproduce
    from test_parallel import sleepers

    project = sleepers(tmp_path / "p")
    state = reproduce(project=str(project), jobs=2, return_state=True)
    assert set(state.result()["stages"].values()) == {dvcrun.RAN}
    runs = {r.name: r for r in task_runs(client, flow_run_of(state))}
    assert set(runs) == {"left", "right", "alone", "join"}
    left, right = runs["left"], runs["right"]
    assert left.start_time < right.end_time and right.start_time < left.end_time, "not concurrent"
    assert {i.id for i in runs["join"].task_inputs["wait_for"]} == {left.id, right.id}
    assert "> python stage.py left 1.0" in logs_of(client, left.id)
    again = reproduce(project=str(project), jobs=2, return_state=True)  # the whole pipeline, nothing changed
    assert again.result()["up_to_date"] and task_runs(client, flow_run_of(again)) == []  # no stage was checked
    assert "up to date" in summary_artifact(client, flow_run_of(again))
    (project / "stage.py").write_text((project / "stage.py").read_text() + "\n")  # a dependency moved: DVC decides
    assert set(reproduce(project=str(project), jobs=2)["stages"].values()) == {dvcrun.RAN}


FLAKY = """
stages:
  download:
    foreach: [flaky]
    do:
      cmd: python fail_until.py attempts.txt 3 && echo got > raw-${item}.txt
      deps: [fail_until.py]
      outs: ["raw-${item}.txt"]
  count:
    cmd: wc -c raw-flaky.txt > count.txt
    deps: [raw-flaky.txt]
    outs: [count.txt]
  broken:
    cmd: python fail_until.py broken.txt 99
    deps: [count.txt]
"""
FAIL_UNTIL = """import pathlib, sys
path, needed = pathlib.Path(sys.argv[1]), int(sys.argv[2])
n = int(path.read_text()) + 1 if path.exists() else 1
path.write_text(str(n))
print(f"attempt {n}")
sys.exit(0 if n >= needed else f"transient failure {n}")
"""


def test_download_stages_retry_and_a_failing_stage_stops_the_flow(tmp_path, monkeypatch, client):
    import pipelines.reproduce as R

    project = tmp_path / "flaky"
    project.mkdir()
    (project / "dvc.yaml").write_text(FLAKY)
    (project / "fail_until.py").write_text(FAIL_UNTIL)
    (project / ".gitignore").write_text("attempts.txt\nbroken.txt\n")
    for cmd in (["git", "init", "-q"], [sys.executable, "-m", "dvc", "init", "-q"]):
        subprocess.run(cmd, cwd=project, check=True)
    monkeypatch.setattr(R.run_stage, "retry_delay_seconds", [0])

    state = R.reproduce(targets=["count"], project=str(project), return_state=True)
    assert state.is_completed() and (project / "attempts.txt").read_text() == "3"
    runs = {r.name: r for r in task_runs(client, flow_run_of(state))}
    assert runs["download@flaky"].run_count == 3 and runs["count"].run_count == 1

    failed = R.reproduce(targets=["broken"], project=str(project), return_state=True)
    assert failed.is_failed() and "broken" in failed.message
    assert (project / "broken.txt").read_text() == "1"  # not a download: no retry
    runs = {r.name: r for r in task_runs(client, flow_run_of(failed))}
    assert runs["broken"].state.is_failed() and runs["count"].state.is_completed()


def test_sweep_runs_a_grid_on_a_two_worker_dask_cluster(mirror, tmp_path, monkeypatch, client):
    from pipelines.sweep import sweep

    project = tiny_sms(mirror, tmp_path / "p", monkeypatch)
    result = sweep(targets=[TARGET], params={"tasks.sms.train.hidden": [8, 12]}, seeds=[3], name="t",
                   n_workers=2, project=str(project), workdir=str(tmp_path / "work"))
    names = {row["experiment"] for row in result["rows"]}
    assert len(names) == 2 and {row["status"] for row in result["rows"]} == {"done"}
    assert all(0 <= row["accuracy"] <= 1 for row in result["rows"])

    # every experiment is a DVC experiment of the baseline, with its own params and metrics
    shown = json.loads(subprocess.run([sys.executable, "-m", "dvc", "exp", "show", "--json"], cwd=project,
                                      capture_output=True, text=True, check=True).stdout)
    revs = {rev["name"]: rev["data"] for b in shown for e in b.get("experiments") or [] for rev in e["revs"]}
    assert names <= set(revs)
    one = revs["t-lstm-learned-packed-hidden12-seed3"]
    assert one["params"]["params.yaml"]["data"]["tasks"]["sms"]["train"]["hidden"] == 12
    assert one["params"]["params.yaml"]["data"]["seed"] == 3
    rev = next(r["rev"] for b in shown for e in b.get("experiments") or [] for r in e["revs"]
               if r["name"] == "t-lstm-learned-packed-hidden12-seed3")
    report = subprocess.run(["git", "show", f"{rev}:metrics/sms/lstm-learned-packed.json"], cwd=project,
                            capture_output=True, text=True, check=True).stdout
    assert "accuracy" in json.loads(report)  # the run's report is in the experiment's commit

    # ... in MLflow: the stages' own runs tagged with their experiment, and the sweep's comparison runs
    with sqlite3.connect(project / "mlflow.db") as db:
        tagged = {v for (v,) in db.execute("select t.value from tags t join runs r using (run_uuid) join experiments e "
                                       "using (experiment_id) where t.key = 'dvc_exp' and e.name = 'rnnlab-sms'")}
        sweep_runs = db.execute("select r.name, m.value from runs r join experiments e using (experiment_id) "
                                "join latest_metrics m on m.run_uuid = r.run_uuid and m.key = 'accuracy' "
                                "where e.name = 'rnnlab-sweeps'").fetchall()
    assert names <= tagged
    assert {name.split("/", 1)[1] for name, _ in sweep_runs} == names
    table = Path(result["table"]).read_text(encoding="utf-8")
    assert all(name in table for name in names)
    # two worker processes shared the work
    assert len({row.get("pid") for row in result["workers"]}) == 2
    assert os.environ.get("PREFECT_API_URL") is None  # the flow restored the environment it changed


@contextmanager
def dask_cluster(tmp_path: Path, env: dict):
    """A scheduler and two single-thread workers as separate processes, stopped afterwards."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    bin_dir = Path(sys.executable).parent
    procs = [subprocess.Popen([bin_dir / "dask", "scheduler", "--host", "127.0.0.1", "--port", str(port),
                               "--no-dashboard"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)]
    procs += [subprocess.Popen([bin_dir / "dask", "worker", address, "--nthreads", "1", "--no-dashboard",
                                "--name", f"machine-{i}"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.STDOUT) for i in (1, 2)]
    try:
        from distributed import Client

        with Client(address, timeout=60) as c:
            c.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_sweep_across_machines_shares_only_git_and_a_dvc_remote(mirror, tmp_path, monkeypatch, client):
    """The multi-machine setup on one machine: a `dask scheduler` and two `dask worker` processes started
    as on other hosts; workers clone a bare git origin, pull inputs from a DVC remote and push experiments
    + run-cache back; nothing is shared through the project's cache."""
    from pipelines.sweep import sweep

    project = tiny_sms(mirror, tmp_path / "p", monkeypatch)
    env = {**os.environ}
    run([sys.executable, "-m", "dvc", "remote", "add", "-d", "team", str(tmp_path / "remote")], project, env)
    run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "remote"], project, env)
    run([sys.executable, "-m", "dvc", "push", "--run-cache", "-q"], project, env)
    run(["git", "clone", "-q", "--bare", str(project), str(tmp_path / "origin.git")], tmp_path, env)

    with dask_cluster(tmp_path, {**env, "PREFECT_API_URL": str(client.api_url), "OMP_NUM_THREADS": "1"}) as address:
        result = sweep(targets=[TARGET], params={}, seeds=[3, 4], name="m", dask_address=address,
                       project=str(project), origin=str(tmp_path / "origin.git"), workdir=str(tmp_path / "work"))
    assert len({w["pid"] for w in result["workers"]}) == 2
    assert {row["status"] for row in result["rows"]} == {"done"} and len(result["rows"]) == 2
    names = {row["experiment"] for row in result["rows"]}
    refs = run(["git", "for-each-ref", "--format=%(refname)", "refs/exps"], tmp_path / "origin.git", env)
    assert all(name in refs for name in names)  # pushed to the origin, then pulled by the driver for the table
    assert all(isinstance(row["accuracy"], float) for row in result["rows"])
    with sqlite3.connect(project / "mlflow.db") as db:  # the workers' stage runs and the driver's comparison
        tagged = {v for (v,) in db.execute("select t.value from tags t join runs r using (run_uuid) join experiments e "
                                       "using (experiment_id) where t.key = 'dvc_exp' and e.name = 'rnnlab-sms'")}
    assert names <= tagged
    remote_runs = list((tmp_path / "remote" / "files" / "md5").rglob("*"))
    assert remote_runs and (tmp_path / "remote" / "runs").is_dir()  # outputs and run-cache reached the remote
