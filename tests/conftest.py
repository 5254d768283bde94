"""Shared fixtures: the corpus mirror and small real data taken from it."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Two xdist workers share two cores: each worker and every process it starts (dvc stages, servers)
# computes on one thread. With torch's default (one thread per core) four spinning OpenMP threads
# fought over two cores: the suite took 19.8 min and 34.6 CPU-min; with one thread, 14.6 and 20.0.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"
# The suite computes with each CPU's own kernels: the portable ones (rnnlab/determinism.py, the
# pipeline's default) cost 1.4-2x per training step and far more for the SBERT encoder, which
# pushed the suite past 15 minutes. Every test compares runs on one machine, where both modes are
# deterministic; tests/test_golden.py runs the portable default and checks its bits.
os.environ.setdefault("RNNLAB_KERNELS", "native")


def stage_module(kind: str, step: str):
    """A stage script (stages/<kind>/<step>.py; kind "" for stages/<step>.py) imported as a module, to call its run()."""
    import importlib.util
    import sys

    path = ROOT / "stages" / kind / f"{step}.py"
    name = f"stages_{kind}_{step}" if kind else f"stages_{step}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def mirror_dir() -> Path | None:
    path = Path(os.environ.get("RNNLAB_MIRROR") or ROOT.parent / "shared" / "corpora")
    return path.resolve() if (path / "SHA256SUMS").is_file() else None


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_dir()
    if path is None:
        pytest.skip("no corpus mirror: set RNNLAB_MIRROR (e.g. ../shared/corpora)")
    return path


@pytest.fixture(scope="session")
def sms_table(mirror) -> pd.DataFrame:
    """The real UCI SMS Spam Collection, 5,574 messages."""
    import csv

    return pd.read_csv(mirror / "sms_spam" / "SMSSpamCollection", sep="\t", header=None, names=["label", "text"],
                       quoting=csv.QUOTE_NONE, dtype=str, keep_default_na=False)


@pytest.fixture(scope="session")
def sms_small(sms_table):
    """2,500 real messages split train/val/test, encoded to 40 tokens: (vocabulary, {split: training.Split})."""
    from rnnlab import split, training
    from rnnlab.batching import encode
    from rnnlab.vocab import Vocabulary

    small = split.sample(split.clean(sms_table, "sms"), 2500, seed=0)
    parts = split.stratified(small, 0.15, 0.2, seed=0, source="sms")
    vocab = Vocabulary.build(parts["train"]["text"], min_freq=2)
    labels = {"ham": 0, "spam": 1}
    out = {k: training.Split(encode(df["text"], vocab, 40), df["label"].map(labels).to_numpy()) for k, df in parts.items()}
    return vocab, out


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """Run inside a temporary directory holding the project's params and catalog."""
    for name in ("params.yaml", "catalog.yaml"):
        (tmp_path / name).write_text((ROOT / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The longest modules first: with --dist loadfile (pyproject addopts) the two end-to-end pipeline
# modules start at once on two workers while the third takes the rest.
LONGEST_FIRST = ("test_pipeline.py", "test_sms_pipeline.py", "test_flows.py", "test_new_task.py", "test_readme_commands.py",
                 "test_faults.py",
                 "test_remote.py",
                 "test_prefect_server.py", "test_bad_input.py", "test_registries.py")


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each module keeps its own order


def _cpu() -> str:
    """The host's CPU model and vector width, as the kernels see it (the golden bits are checked per host)."""
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    fields = {k.strip(): v.strip() for k, v in (line.split(":", 1) for line in lines if ":" in line)}  # CPUs alike
    model, flags = fields.get("model name", "unknown"), fields.get("flags", "").split()
    width = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{model}, {width}, {os.cpu_count()} cores"


def pytest_terminal_summary(terminalreporter):
    """Last lines of every run: which CPU the golden bits passed (or failed) on; CI shows only the tail."""
    outcomes = {outcome: sum("test_golden.py" in getattr(r, "nodeid", "") for r in terminalreporter.stats.get(outcome, []))
                for outcome in ("passed", "failed")}
    if any(outcomes.values()):
        terminalreporter.write_line(f"golden bits on {_cpu()}: {outcomes['passed']} passed, {outcomes['failed']} failed")
