"""Building a temporary copy of the project on a small params override, and running commands in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from conftest import ROOT

PROJECT_FILES = ["params.yaml", "catalog.yaml", "dvc.yaml", "stages", "rnnlab", ".dvc/config", ".dvcignore", ".gitignore"]
MODELS, KINDS = ["lstm"], ["learned", "glove"]  # word2vec: tests/test_embeddings.py; bigru: tests/test_learning.py


def small_params(params: dict) -> dict:
    tasks = params["tasks"]
    sms = tasks["sms"]
    sms.update(max_rows=700, models=MODELS, inputs=["packed"])
    sms["embeddings"].update(kinds=KINDS, glove="glove_6b_100d_slice")
    sms["embeddings"]["word2vec"].update(epochs=3)
    sms["train"].update(max_epochs=6, patience=6, batch_size=32)
    sms.update(seed_runs=["lstm-glove-packed"], extra_seeds=[1])
    for task in ("imdb_deck", "imdb_full"):
        tasks[task].update(max_rows=600, seed_runs=[])
        tasks[task]["train"].update(max_epochs=2, batch_size=32, hidden=16)
    tasks["imdb_deck"].update(models=["lstm"], seed_runs=["lstm-learned-bucketed"], extra_seeds=[1])
    tasks["imdb_deck"]["embeddings"].update(learned_dim=16)
    tasks["imdb_full"].update(models=["bilstm"], max_len=200)
    sentiment = tasks["sentiment"]
    sentiment["attribution_runs"] = ["imdb_deck/lstm-learned-bucketed", "imdb_full/bilstm-glove-bucketed"]
    sentiment["attributions"]["sentences"] = sentiment["attributions"]["sentences"][:2]
    news = tasks["news"]
    news.update(max_rows=500, min_class_rows=6, max_epochs=3, extra_seeds=[1])
    news["finetune"].update(max_epochs=1, batch=16)
    letters = tasks["letters"]
    letters.update(models=["lstm"], features=["chars", "finetuned"])  # tfidf, word2vec, glove, sbert: tests/test_letters.py
    letters.update(seed_runs=["chars-lstm"], extra_seeds=[1])
    letters["split"].update(max_per_book=12)
    letters["word2vec"].update(epochs=2)
    letters["static"].update(max_epochs=2, letters_l2=[0.001, 0.00001])
    letters["finetuned"].update(max_epochs=1)
    poetry = tasks["poetry"]
    poetry.update(models=["lstm", "pretrained"])  # the deck's window model is covered by tests/test_charlm.py
    poetry["stream"].update(max_epochs=2, hidden=32)
    poetry["pretrain"].update(hidden=16, layers=2, epochs=1, max_chars=20_000)
    poetry["generate"].update(length=40, temperatures=[0.5])
    poetry.update(seed_runs=["lstm"], extra_seeds=[1])
    return params


def run(cmd: list[str], cwd: Path, env: dict) -> str:
    # the timeout guards against hangs; a slow machine must not trip it (CI once did at 900 s)
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def make_project(path: Path, params: dict, env: dict, targets: tuple[str, ...] = (), jobs: int | None = None) -> str:
    """Copy the project into path as a git repo with these params; return `dvc repro`'s output
    (with jobs, `rnnlab repro --jobs` runs independent stages at once)."""
    for name in PROJECT_FILES:
        src, dst = ROOT / name, path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy(src, dst)
    (path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False, allow_unicode=True))
    run([sys.executable, "-m", "rnnlab.cli", "pipeline"], path, env)  # the tasks these params keep
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        run(cmd, path, env)
    if jobs:
        return run([sys.executable, "-m", "rnnlab.cli", "repro", "--jobs", str(jobs), *targets], path, env)
    return run([sys.executable, "-m", "dvc", "repro", *targets], path, env)


def project_env(path: Path, mirror: Path | None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(path), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name in ("MLFLOW_TRACKING_URI", "RNNLAB_MIRROR"):
        env.pop(name, None)
    if mirror is not None:
        env["RNNLAB_MIRROR"] = str(mirror)
    return env


def runs() -> list[str]:
    """The SMS variants small_params trains."""
    return [f"{m}-{k}-packed" for m in MODELS for k in KINDS]


def load_small_params() -> dict:
    return small_params(yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8")))
