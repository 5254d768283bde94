"""The pipeline logging to a real `mlflow server` on loopback (SQLite backend) when
MLFLOW_TRACKING_URI names it: one run per variant, told apart by name, tagged with code and data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from prefect_fixtures import free_port, get_json, stop_group, wait_http
from test_pipeline import make_project, project_env, small_params

pytestmark = pytest.mark.slow


@pytest.fixture
def mlflow_server(tmp_path):
    port, log = free_port(), tmp_path / "mlflow.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
                                 f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "art"),
                                 "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", 120, proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_group(proc)


def test_stages_log_to_the_tracking_server(mirror, tmp_path, mlflow_server):
    params = small_params(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))
    params["sms"].update(max_rows=300, models=["lstm", "gru"], seed_runs=[], extra_seeds=[])
    params["sms"]["embeddings"].update(kinds=["learned"])
    params["sms"]["train"].update(max_epochs=2, hidden=8)
    project = tmp_path / "p"
    env = {**project_env(project, mirror), "RNNLAB_MIRROR": str(mirror), "MLFLOW_TRACKING_URI": mlflow_server}
    make_project(project, params, env, ("evaluate@lstm-learned-packed", "evaluate@gru-learned-packed"))
    assert not (project / "mlflow.db").exists()  # nothing went to the local default store

    api = f"{mlflow_server}/api/2.0/mlflow"
    experiment = get_json(f"{api}/experiments/get-by-name?experiment_name=rnnlab-sms")["experiment"]
    runs = get_json(f"{api}/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    by_name = {r["info"]["run_name"]: r for r in runs}
    assert set(by_name) == {"sms/lstm-learned-packed", "sms/gru-learned-packed"}
    tags = {t["key"]: t["value"] for t in by_name["sms/lstm-learned-packed"]["data"]["tags"]}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True).stdout.strip()
    assert tags["git_commit"].startswith(commit) and len(tags["dvc_data_md5"]) >= 32
    metrics = {m["key"]: m["value"] for m in by_name["sms/lstm-learned-packed"]["data"]["metrics"]}
    assert 0 <= metrics["test_accuracy"] <= 1
