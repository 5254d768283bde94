"""Stage modules, run as `python -m stages.<kind>.<step> ...` (dvc.yaml's commands).

Importing rnnlab first pins the math libraries' kernels before any stage's numpy or torch loads
(rnnlab/determinism.py) and notes who started the process. The watch for that starter begins
here, before the stage's own imports: a dvc killed while torch still loads (seconds on a busy
machine) stops the stage then, not after (rnnlab/entry.py).
"""

import rnnlab  # noqa: F401  (first: the kernel pins)
from rnnlab.entry import die_with_parent

die_with_parent()
