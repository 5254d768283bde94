"""The same bits on any x86-64 host: kernel paths pinned, threads fixed by params.

A float32 sum depends on the order of its terms, and the math libraries pick that order by CPU:
MKL and OpenBLAS choose a code branch per vendor and vector width, oneDNN also blocks its
products by the caches it finds, ATen vectorises with AVX-512 where the CPU has it, and every
library splits work across as many threads as there are cores. Measured on main before this
module: the same seed gave different metrics on an Intel Xeon and an AMD EPYC, and 1 against 2
threads a different model.pt.

So every rnnlab process (rnnlab/__init__.py calls pin_kernels before numpy or torch load):
  * MKL_CBWR=COMPATIBLE: MKL's one branch that Intel documents as giving the same results on
    Intel and non-Intel CPUs (its AVX2 branch falls back to AUTO on AMD);
  * ATEN_CPU_CAPABILITY=avx2: ATen's own kernels (and the C++ step loops' compile flags) stop at AVX2;
  * OPENBLAS_CORETYPE=Haswell: numpy's and scipy's OpenBLAS (scikit-learn) use one kernel set;
  * NPY_DISABLE_CPU_FEATURES: numpy's own SIMD loops stop at AVX2 (X86_V3). Its quicksort is not
    stable, and the AVX-512 and AVX2 sorts order equal keys differently: scikit-learn's TF-IDF keeps
    the `max_features` most frequent terms by such a sort, so the letters TF-IDF vocabulary (and its
    three models' metrics) differed between an AVX-512 EPYC (Zen 4) and an AVX2 one (Zen 3);
  * oneDNN is switched off (use_threads): its JIT kernels have no reproducible mode; nn.LSTM,
    Conv1d and the fused GRU/RNN then run on MKL;
  * the thread count is a parameter (params.yaml `threads`), the same on 2 and 16 cores.
The cost is measured by benchmarks/determinism.py. RNNLAB_KERNELS=native skips the pins: faster,
but results then depend on the host, and DVC cannot tell.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
from types import ModuleType
from typing import Callable

PORTABLE_ENV = {
    "MKL_CBWR": "COMPATIBLE",
    "MKL_DYNAMIC": "FALSE",  # MKL may not lower the thread count it was given
    "OMP_DYNAMIC": "FALSE",
    "ATEN_CPU_CAPABILITY": "avx2",
    "OPENBLAS_CORETYPE": "Haswell",
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # numpy 2.4's names above AVX2
}


def kernels() -> str:
    """`portable` or `native`: part of a result's identity (a resumed run must not switch)."""
    return "portable" if portable() else "native"


def portable() -> bool:
    return os.environ.get("RNNLAB_KERNELS", "portable") != "native"


def pin_kernels() -> None:
    """Set the libraries' kernel choices; they read them when they load, so this runs first."""
    if portable():
        os.environ.update(PORTABLE_ENV)


def use_threads(n: int) -> None:
    """n compute threads for torch, MKL and OpenBLAS in this process, and no oneDNN where pinned."""
    from threadpoolctl import threadpool_limits

    # libraries loaded later (scipy's own OpenBLAS, scikit-learn's OpenMP) read these when they load
    os.environ.update({v: str(n) for v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")})
    threadpool_limits(n)
    # torch takes a second to import, and half the stages (downloads, prepare, reports) never use it
    _when_imported("torch", lambda torch: _torch_threads(torch, n))


def _torch_threads(torch, n: int) -> None:
    torch.set_num_threads(n)
    if portable():
        torch.backends.mkldnn.enabled = False


def _when_imported(name: str, hook: Callable[[ModuleType], None]) -> None:
    """hook(module) now if the module is loaded, else right after its first import finishes."""
    if name in sys.modules:
        return hook(sys.modules[name])

    class AfterImport(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname != name:
                return None
            sys.meta_path.remove(self)
            spec = importlib.util.find_spec(name)
            exec_module = spec.loader.exec_module

            def exec_then_hook(module):
                exec_module(module)
                hook(module)

            spec.loader.exec_module = exec_then_hook
            return spec

    sys.meta_path.insert(0, AfterImport())
