"""dvc.yaml is rendered from params.yaml's tasks, and every stage lists all the project code it runs."""

from __future__ import annotations

import re
import subprocess
import sys

import yaml

from conftest import ROOT
from rnnlab import imports


def _expanded_stages():
    """Every stage of the committed dvc.yaml as DVC itself expands it: (name, command, dep paths)."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        return [(s.addressing, s.cmd, {str(d.def_path) for d in s.deps}) for s in repo.index.stages]


def test_the_committed_dvc_yaml_is_current():
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "pipeline", "--check"], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr + done.stdout


def test_every_stage_lists_the_import_closure_of_its_command_in_deps():
    stages = _expanded_stages()
    assert len(stages) > 100
    for name, cmd, deps in stages:
        script = re.search(r"python (\S+\.py)", cmd)[1]
        missing = [f for f in imports.closure(script, ROOT) if f not in deps]
        assert not missing, f"{name}: runs {missing} but does not list them in deps"
    kinds = {cmd.split()[1] for _, cmd, _ in stages}
    assert {"stages/download.py", "stages/register.py", "stages/classification/train.py",
            "stages/attribution/attributions.py", "stages/letters/evaluate.py", "stages/news/report.py",
            "stages/charlm/evaluate.py"} <= kinds


def test_the_closure_follows_imports_inside_functions_and_declared_data_files(tmp_path):
    pkg = tmp_path / "rnnlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("import os\n\ndef f():\n    from rnnlab import b\n    return b\n")
    (pkg / "b.py").write_text("DEPENDS_ON = ('kernel.cpp',)\nfrom rnnlab.c import x\n")
    (pkg / "c.py").write_text("x = 1\n")
    (pkg / "unused.py").write_text("")
    (tmp_path / "stage.py").write_text("from rnnlab.a import f\n")
    assert imports.closure("stage.py", tmp_path) == ["stage.py", "rnnlab/__init__.py", "rnnlab/a.py", "rnnlab/b.py",
                                                     "rnnlab/c.py", "rnnlab/kernel.cpp"]


def test_stages_are_named_by_task_and_every_task_of_params_has_its_kinds_stages():
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((ROOT / "params.yaml").read_text())["tasks"]
    for task, settings in params.items():
        template = yaml.safe_load((ROOT / "stages" / settings["kind"] / "stages.yaml").read_text())
        for step in template:
            name = f"{task}_{step}"
            assert name in dvc or (step == "seeds" and not settings.get("seed_runs")), name
    assert dvc["register"]["foreach"] == {"sms": {"task": "sms"}, "sentiment": {"task": "imdb_full"},
                                          "poetry": {"task": "poetry"}, "letters": {"task": "letters"},
                                          "news": {"task": "news"}}
    # each download depends on its own catalog entry only: editing another entry reruns nothing
    assert {"catalog.yaml": ["${item.name}"]} in dvc["download"]["params"]
    assert "catalog.yaml" not in dvc["download"]["deps"]
