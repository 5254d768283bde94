"""rnnlab: train and compare recurrent text models reproducibly."""

# first, before numpy or torch load their math libraries: they read the kernel pins only then
from rnnlab.determinism import pin_kernels as _pin_kernels

_pin_kernels()

import os as _os  # noqa: E402

# who started this process, noted before the slow imports: a stage dies with it (rnnlab/entry.py)
STARTED_BY = _os.getppid()

__version__ = "0.1.0"
