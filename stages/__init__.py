"""Stage modules, run as `python -m stages.<kind>.<step> ...` (dvc.yaml's commands).

Importing rnnlab first pins the math libraries' kernels before any stage's numpy or torch loads
(rnnlab/determinism.py) and notes who started the process (rnnlab/entry.py).
"""

import rnnlab  # noqa: F401
