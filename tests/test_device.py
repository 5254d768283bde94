"""params.yaml `device`: where training, evaluation and attributions compute (rnnlab/device.py).

This machine has no GPU, so the plumbing is checked on the CPU: the choice reaches the stages that
compute and only those, cuda without a GPU is one line, and CPU runs keep their bits (the golden
test's hashes, tests/test_golden.py). benchmarks/gpu.py measures a real GPU where there is one.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
import yaml

from conftest import ROOT
from rnnlab import device, dvcyaml
from rnnlab import params as P
from rnnlab.errors import RnnlabError

no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks a host without a GPU")


@no_gpu
def test_cuda_without_a_gpu_is_one_line_and_auto_falls_back_to_the_cpu():
    with pytest.raises(RnnlabError, match=r"^params.yaml device: cuda, but this torch \(.*\) sees no CUDA GPU; "
                                          r"set device: cpu or auto$"):
        device.use("cuda")
    assert device.use("auto") == torch.device("cpu") == device.current()
    model, x = device.to(torch.nn.Linear(2, 2), torch.ones(1, 2))
    assert model.weight.device.type == x.device.type == "cpu" and device.to(None) is None


@no_gpu
def test_a_training_stage_asked_for_cuda_stops_in_one_line_before_reading_anything(in_project):
    data = yaml.safe_load((in_project / "params.yaml").read_text())
    (in_project / "params.yaml").write_text(yaml.safe_dump({**data, "device": "cuda"}))
    done = subprocess.run([sys.executable, "-m", "stages.classification.train", "sms", "lstm", "learned", "packed"],
                          cwd=in_project, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: params.yaml device: cuda, but this torch ({torch.__version__}) sees no CUDA GPU; set device: cpu or auto"]


def test_the_stages_that_compute_depend_on_device_and_no_others():
    stages = yaml.safe_load(dvcyaml.render())["stages"]
    with_device = {name for name, s in stages.items() if "device" in s.get("do", s).get("params", [])}
    steps = {name: s.get("do", s)["cmd"].split()[2].rsplit(".", 1)[-1] for name, s in stages.items()}
    assert with_device == {name for name, step in steps.items() if step in device.STEPS}
    assert {"sms_train", "sms_evaluate", "sms_seeds", "sentiment_attributions", "poetry_train", "news_train",
            "letters_evaluate"} <= with_device
    assert not with_device & {"sms_report", "sms_vocab", "download", "news_embed"}


def test_the_gpus_to_hand_out_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert device.gpus_for("auto") == ["2", "5"] and device.gpus_for("cpu") == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert device.gpus_for("cuda") == []
    assert P.load(ROOT / "params.yaml").device == "cpu"  # the committed tables are CPU results


@no_gpu
def test_the_gpu_benchmark_lists_the_train_stages_runs_and_says_in_one_line_that_it_needs_a_gpu():
    sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
    from benchmarks import gpu

    params = P.load(ROOT / "params.yaml")
    sms = P.task(params, "sms")
    assert len(gpu.runs(params, ["sms"], None)) == len(sms.models) * len(sms.embeddings.kinds) * len(sms.inputs)
    assert gpu.runs(params, ["sms", "imdb_full"], 1) == [("sms", sms.models[0], sms.embeddings.kinds[0], sms.inputs[0]),
                                                        ("imdb_full", "bilstm-max", "glove", "bucketed")]
    done = subprocess.run([sys.executable, "-m", "benchmarks.gpu", "--limit", "1"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: no CUDA GPU visible"), done.stderr


def test_the_gpu_benchmark_reports_a_saved_run_and_names_the_runs_one_side_missed(capsys):
    sys.path.insert(0, str(ROOT))  # benchmarks/ is not an installed package
    import json

    from benchmarks import gpu

    gpu.report(json.loads((ROOT / "benchmarks" / "results" / "gpu-h200.json").read_text()))
    lines = capsys.readouterr().out.splitlines()
    assert "sms: 35 runs' training: cpu 1762 s, gpu 68 s, 26.0x" in lines
    assert any(l.startswith("imdb_full/bilstm-max-glove-bucketed") and "65.1x" in l for l in lines)
    assert any(l.startswith("sms/cnn-lstm-learned-padded") and "not measured on the CPU" in l for l in lines)
    assert "sms/rnn-learned-packed: trained twice on the GPU, identical weights" in lines
