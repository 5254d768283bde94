"""The README's "Run an experiment" block, run as printed on a small SMS project: the experiment
trains its variants, `dvc exp show` names the changed params, `dvc metrics show` lists the task's few
headline numbers, and `dvc plots show` writes its page."""

from __future__ import annotations

import json
import re
import sys

from project_fixtures import load_small_params, make_project, project_env, run

from conftest import ROOT


def readme_block(heading: str) -> list[str]:
    """The command lines of the first bash block under a README heading, continuations joined."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {heading}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.S)[1]
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def test_the_readme_experiment_runs_as_printed(tmp_path, mirror):
    path = tmp_path / "p"
    env = project_env(path, mirror)
    params = load_small_params()
    params["tasks"] = {"sms": {**params["tasks"]["sms"], "extra_seeds": []}}  # SMS alone, no seed sweep
    make_project(path, params, env, targets=("sms_vocab",))
    exp_run, exp_show, metrics_show, plots_show = readme_block("Run an experiment")
    assert exp_run.startswith("dvc exp run ") and exp_run.endswith(" sms_report")

    run(["bash", "-c", exp_run], path, env)
    config = json.loads((path / "models/sms/bigru-glove-packed/config.json").read_text())
    assert config["variant"] == "bigru" and config["hidden"] == 128
    for variant in ("lstm", "bigru"):
        for kind in ("learned", "glove"):
            assert (path / f"metrics/sms/{variant}-{kind}-packed.json").is_file()
    changed = run(["bash", "-c", exp_show], path, env)
    assert "tasks.sms.train.hidden" in changed and "128" in changed and "macro_f1" in changed
    shown = run(["bash", "-c", metrics_show], path, env).splitlines()
    assert shown[0].split() == ["Path", "accuracy", "macro_f1", "spam_f1"] and shown[1].startswith("metrics/sms.json")
    run(["bash", "-c", plots_show], path, env)
    page = (path / "dvc_plots/index.html").read_text()
    # the overlay lists the variants params.yaml had when `rnnlab pipeline` rendered dvc.yaml
    assert "SMS spam: val loss" in page and '"filename": "lstm-glove-packed/history.csv"' in page
    assert "Data and pipelines are up to date" in run([sys.executable, "-m", "dvc", "status", "sms_report"], path, env)
