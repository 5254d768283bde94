"""A no-op `rnnlab repro` answers from what DVC last verified (rnnlab/noop.py), and any change of a
definition, a dependency or an output hands the decision back to DVC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from test_parallel import DVC_YAML, sleepers

from rnnlab import noop

FAST = "nothing DVC's last check rests on has changed"


def repro(path: Path, *args: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([sys.executable, "-m", "rnnlab.cli", "repro", "--jobs", "2", *args], cwd=path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def ran(path: Path) -> list[str]:
    return [json.loads(line)[0] for line in (path / "spans.jsonl").read_text().splitlines()]


def test_a_no_op_is_answered_without_dvc_until_anything_changes(tmp_path):
    path = sleepers(tmp_path / "p")
    repro(path)
    assert sorted(ran(path)) == ["alone", "join", "left", "right"] and (path / noop.SNAPSHOT).is_file()

    assert FAST in repro(path) and len(ran(path)) == 4  # nothing ran, DVC not asked

    (path / "out/left.txt").write_text("edited by hand")  # an output: DVC restores or reruns
    out = repro(path)
    assert FAST not in out and (path / "out/left.txt").read_text() == "left()"
    assert FAST in repro(path)

    stages = {**DVC_YAML["stages"], "alone": {**DVC_YAML["stages"]["alone"], "cmd": "python stage.py alone 0.3"}}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))  # a definition
    before = len(ran(path))
    assert FAST not in repro(path) and ran(path)[before:] == ["alone"]

    (path / "stage.py").write_text((path / "stage.py").read_text() + "\n# a dependency changed\n")
    before = len(ran(path))
    assert FAST not in repro(path) and sorted(ran(path)[before:]) == ["alone", "join", "left", "right"]
    assert FAST in repro(path)
    # a stage name or --force always asks DVC
    assert FAST not in repro(path, "alone") and FAST not in repro(path, "--force", "alone")


def test_nothing_is_noted_for_a_pipeline_dvc_reruns_every_time(tmp_path):
    path = sleepers(tmp_path / "p")
    stages = {**DVC_YAML["stages"], "clock": {"cmd": "date > out/clock.txt", "outs": ["out/clock.txt"]}}
    (path / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    repro(path)
    assert not (path / noop.SNAPSHOT).exists()  # a stage without dependencies always runs in DVC
    assert FAST not in repro(path)
