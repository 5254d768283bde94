"""Keep freed memory in the process instead of handing it back to the OS after every step.

glibc serves large blocks (above a threshold that adapts up to 32 MB) with fresh mmap()s and
returns freed heap tops to the OS. oneDNN's LSTM workspaces, dense embedding gradients and
activations are all freed and allocated again every training step, so each step page-faults
the same tens of megabytes back in: a BiLSTM(128) step at batch 64 x 50 took 47-52 ms by
default and 25-32 ms with the thresholds below (benchmarks/step.py; glibc's docs: mallopt(3)).
Peak memory is unchanged; memory freed late in a stage is simply kept until the process exits.
"""

from __future__ import annotations

import ctypes
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # from <malloc.h>
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest allowed value on 64-bit
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; False (nothing done) elsewhere."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    except (OSError, AttributeError):
        return False


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (None where there is none)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:"))
    except (OSError, StopIteration, ValueError):
        return None


def ensure_fits(build, what: str, copies: int = 4) -> None:
    """Refuse, before anything is allocated, a model whose weights, gradients and two Adam moments
    (`copies` of its parameters) exceed the memory the machine has free; `what` names the settings."""
    import torch

    with torch.device("meta"):
        need = copies * sum(p.numel() * p.element_size() for p in build().parameters())
    have = available_bytes()
    if have is not None and need > have:
        from rnnlab.errors import RnnlabError

        raise RnnlabError(f"{what}: the model needs ~{need / 2**30:,.1f} GiB for weights, gradients and optimizer "
                          f"state, {have / 2**30:,.1f} GiB is available")
