"""Team sharing through a DVC remote on a real S3-compatible server (moto's server mode on loopback):
clone A runs the pipeline and pushes data, models and run-cache; a fresh clone B pulls and has
nothing left to run."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from prefect_fixtures import free_port, stop_group, wait_http
from project_fixtures import make_project, project_env, run, small_params

pytestmark = pytest.mark.slow
TARGET = "sms_evaluate@lstm-learned-packed"
S3_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def s3(tmp_path):
    port = free_port()
    log = tmp_path / "moto.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/", 60, proc, log)
        import boto3

        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                     aws_secret_access_key="testing").create_bucket(Bucket="rnnlab")
        yield endpoint
    finally:
        stop_group(proc)


def tree_md5(path: Path) -> dict[str, str]:
    return {str(f.relative_to(path)): hashlib.md5(f.read_bytes()).hexdigest() for f in sorted(path.rglob("*")) if f.is_file()}


def test_a_teammate_pulls_everything_and_reruns_nothing(mirror, tmp_path, s3):
    params = small_params(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))
    sms = params["tasks"]["sms"]
    sms.update(max_rows=300, models=["lstm"], seed_runs=[], extra_seeds=[])
    sms["embeddings"].update(kinds=["learned"])
    sms["train"].update(max_epochs=2, hidden=8)
    a, b = tmp_path / "a", tmp_path / "b"
    env = {**project_env(a, mirror), **S3_KEYS, "RNNLAB_MIRROR": str(mirror)}
    dvc = [sys.executable, "-m", "dvc"]
    make_project(a, params, env, (TARGET,))
    run([*dvc, "remote", "add", "-d", "team", "s3://rnnlab/cache"], a, env)
    run([*dvc, "remote", "modify", "team", "endpointurl", s3], a, env)  # keys: the AWS_* variables, never in git
    run(["git", "add", "-A"], a, env)
    run(["git", "-c", "user.name=a", "-c", "user.email=a@a", "commit", "-qm", "results + team remote"], a, env)
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    pushed = run([rnnlab, "remote", "push"], a, env)  # checks the remote, then `dvc push --run-cache`
    assert f"DVC remote 'team' (s3://rnnlab/cache at {s3}) answers" in pushed and "pushed" in pushed

    run(["git", "clone", "-q", str(a), str(b)], tmp_path, env)
    env_b = {**env, "PYTHONPATH": str(b), "RNNLAB_MIRROR": str(tmp_path / "no-mirror")}  # B cannot download
    # A ran one branch of the pipeline: B pulls that branch (a whole-pipeline run would `dvc pull` all)
    run([*dvc, "pull", "--run-cache", "--with-deps", TARGET], b, env_b)
    assert "up to date" in run([*dvc, "status", "--with-deps", TARGET], b, env_b)
    repro = run([*dvc, "repro", TARGET], b, env_b)
    assert "Running stage" not in repro and "is cached" not in repro
    for path in ("metrics/sms", "models/sms", "data/prepared/sms", "data/vocab/sms"):
        assert tree_md5(b / path) == tree_md5(a / path), path
    assert "testing" not in (b / ".dvc" / "config").read_text()


    # failures: one line with a hint, and B keeps everything it pulled
    before = tree_md5(b / "models")
    no_keys = {k: v for k, v in env_b.items() if not k.startswith("AWS_")} | {
        "AWS_EC2_METADATA_DISABLED": "true", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none")}
    closed = f"http://127.0.0.1:{free_port()}"
    run([*dvc, "remote", "modify", "--local", "team", "endpointurl", closed], b, env_b)  # as if the server were down
    cases = [(env_b, "pull", f"DVC remote 'team' (s3://rnnlab/cache at {closed}): not reachable"),
             (no_keys, "push", "DVC remote 'team' (s3://rnnlab/cache at " + closed + "): no credentials; export AWS_ACCESS_KEY_ID")]
    for case_env, action, message in cases:
        done = subprocess.run([rnnlab, "remote", action], cwd=b, env=case_env, capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith(f"error: {message}"), done.stderr
    run([*dvc, "remote", "modify", "--local", "team", "endpointurl", s3], b, env_b)
    assert "answers" in run([rnnlab, "remote", "check"], b, env_b)
    assert tree_md5(b / "models") == before
    assert "up to date" in run([*dvc, "status", "--with-deps", TARGET], b, env_b)
