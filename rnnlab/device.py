"""The torch device a stage computes on: params.yaml's `device` (cpu, cuda or auto), set once per process.

Training, evaluation, seed sweeps and attributions (the STEPS below) place their models and
batches with `to()`; everything else stays on the CPU. On CUDA the recurrent layers run cuDNN's
kernels (rnnlab/fused.py's C++ loops are for CPU tensors only), and the run is made deterministic
for one GPU type: cuBLAS's fixed workspace, cuDNN's deterministic algorithms, no TF32. A GPU's
floats differ from the CPU's, which is why the device is a param of those stages: switching it
reruns them instead of mixing results. The parallel runner gives each such stage a GPU of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from rnnlab.errors import RnnlabError

CHOICES = ("cpu", "cuda", "auto")
STEPS = frozenset({"train", "evaluate", "seeds", "attributions"})  # stages/<kind>/<step>.py that use it

_current = None  # torch.device, set by use(); None until then means the CPU


def use(setting: str) -> "torch.device":  # noqa: F821 - torch is imported late: this module loads in the runner
    """Make `setting` this process's device; cuda (or auto on a host with a GPU) turns on determinism."""
    import torch

    global _current
    available = setting != "cpu" and torch.cuda.is_available()
    if setting == "cuda" and not available:
        raise RnnlabError(f"params.yaml device: cuda, but this torch ({torch.__version__}) sees no CUDA GPU; "
                          "set device: cpu or auto")
    if not available:
        _current = torch.device("cpu")
        return _current
    # before the first cuBLAS call: a fixed workspace is what makes its reductions repeatable
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)
    _current = torch.device("cuda")
    return _current


def current() -> "torch.device":  # noqa: F821
    import torch

    return _current if _current is not None else torch.device("cpu")


def to(*items):
    """Tensors (or modules) on the current device; None passes through. One item in, one out."""
    moved = tuple(None if x is None else x.to(current()) for x in items)
    return moved[0] if len(moved) == 1 else moved


def gpus_for(setting: str) -> list[str]:
    """The GPUs the parallel runner hands out, one per stage (as CUDA_VISIBLE_DEVICES); none for cpu.

    Listed by nvidia-smi, without importing torch into the runner; CUDA_VISIBLE_DEVICES narrows them."""
    if setting == "cpu":
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        listed = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(l for l in listed.splitlines() if l.startswith("GPU "))]
