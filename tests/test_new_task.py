"""The README's "Add your own corpus and task", run as written: one catalog entry and one params block, no code.

A package-style release archive of 300 one-message JSON files (real SMS Spam Collection messages)
is served by a local HTTP server; the README's entry and task block are added to a copy of the
project (only the URL and the archive's sha256 are the test's own), and `make run`'s two commands
build everything a task has: its results table, MLflow runs, registry champion, `predict` answer
and compare-page section.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
import sys
import tarfile
from pathlib import Path

import pytest
import yaml
from http_fixtures import FILES, serve, sha
from project_fixtures import PROJECT_FILES, project_env, run

from conftest import ROOT


def _readme_block(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.search(rf"<!-- add-task:{name} -->\n```yaml\n(.*?)```\n<!-- /add-task:{name} -->", text, re.S)[1]


def _release(mirror: Path) -> bytes:
    """mail-spam-1.0.tar.gz: 200 ham and 100 spam messages, one JSON file each, plus files that are not records."""
    with open(mirror / "sms_spam" / "SMSSpamCollection", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    want, members = {"ham": 200, "spam": 100}, {"mail-spam-1.0/README.md": b"# mail spam\n",
                                                "mail-spam-1.0/setup.py": b"raise SystemExit('never run')"}
    for i, (label, text) in enumerate(rows):
        if want[label]:
            want[label] -= 1
            members[f"mail-spam-1.0/data/{label}/{i:05d}.json"] = json.dumps({"text": text, "id": i}).encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as t:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory, mirror):
    path = tmp_path_factory.mktemp("newtask")
    release = _release(mirror)
    FILES["/releases/mail-spam-1.0.tar.gz"] = release
    server, base = serve()
    env = project_env(path, mirror)
    for name in PROJECT_FILES:
        src, dst = ROOT / name, path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            import shutil

            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            dst.write_bytes(src.read_bytes())
    # the two edits of the README, with this server's URL and this archive's pin
    entry = (_readme_block("catalog").replace("https://example.org", base)
             .replace("5d41402abc4b2a76b9719d911017c592ae8e0f0f7c2f1d8bdf0d2b6bd27f3c4e", sha(release)))
    with open(path / "catalog.yaml", "a", encoding="utf-8") as f:
        f.write("\n" + entry)
    params = (path / "params.yaml").read_text(encoding="utf-8")
    block = _readme_block("params")
    kept = yaml.safe_load(params)
    kept["tasks"] = {}  # only the new task here: the others have tests of their own
    text = yaml.safe_dump(kept, sort_keys=False, allow_unicode=True).replace("tasks: {}\n", "tasks:\n" + block)
    (path / "params.yaml").write_text(text, encoding="utf-8")
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        run(cmd, path, env)
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    out = run([rnnlab, "pipeline"], path, env) + run([sys.executable, "-m", "dvc", "repro"], path, env)
    yield path, env, out
    server.shutdown()
    FILES.pop("/releases/mail-spam-1.0.tar.gz")


def test_the_new_task_gets_its_stages_and_results_table(project):
    path, _, out = project
    stages = yaml.safe_load((path / "dvc.yaml").read_text())["stages"]
    assert {"mail_spam_prepare", "mail_spam_train", "mail_spam_evaluate", "mail_spam_report"} <= set(stages)
    assert stages["register"]["foreach"] == {"mail_spam": {"task": "mail_spam", "select_by": "tasks.mail_spam"}}
    assert "download@mail_spam" in out and "Running stage 'mail_spam_train@gru-learned-packed'" in out
    source = json.loads((path / "data/raw/mail_spam/source.json").read_text())
    assert source["corpus"] == "mail_spam" and source["source"].startswith("url")
    assert len(list((path / "data/raw/mail_spam/messages").rglob("*.json"))) == 300
    balance = json.loads((path / "metrics/mail_spam/balance.json").read_text())
    assert sum(balance[s]["rows"] for s in ("train", "val", "test")) == 300
    table = (path / "results/mail_spam.md").read_text()
    assert "| gru | learned | packed |" in table and "| lstm | learned | packed |" in table
    assert "spam precision" in table and "Corpus **mail_spam**" in table
    for run_name in ("gru-learned-packed", "lstm-learned-packed"):
        m = json.loads((path / f"metrics/mail_spam/{run_name}.json").read_text())
        assert 0.5 < m["accuracy"] <= 1 and set(m) >= {"ham", "spam", "macro_avg"}
        assert json.loads((path / f"models/mail_spam/{run_name}/config.json").read_text())["kind"] == "classification"


def test_mlflow_registry_predict_and_compare_know_the_new_task(project):
    path, env, _ = project
    with sqlite3.connect(path / "mlflow.db") as db:
        runs = {name for (name,) in db.execute("select name from runs")}
        experiments = {name for (name,) in db.execute("select name from experiments")}
    assert {"mail_spam/gru-learned-packed", "mail_spam/lstm-learned-packed"} <= runs
    assert "rnnlab-mail_spam" in experiments
    champion = json.loads((path / "results/champions/mail_spam.json").read_text())
    assert champion["registered_model"] == "rnnlab-mail_spam" and champion["best_variant"] in (
        "gru-learned-packed", "lstm-learned-packed")
    rnnlab = str(Path(sys.executable).parent / "rnnlab")
    rows = [json.loads(line) for line in run([rnnlab, "predict", "mail_spam", "WIN a FREE prize, call now",
                                              "see you at lunch"], path, env).splitlines() if line.startswith("{")]
    assert [set(r["probabilities"]) for r in rows] == [{"ham", "spam"}] * 2
    local = run([rnnlab, "predict", "mail_spam", "--model-dir", "models/mail_spam/gru-learned-packed", "hello"],
                path, env)
    assert '"label"' in local
    out = run([rnnlab, "compare"], path, env)
    assert "2 variants in 1 tasks" in out
    page = (path / "results/compare.html").read_text()
    assert '<section id="mail_spam"><h2>mail_spam</h2>' in page
