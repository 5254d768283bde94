"""Stage `register@NAME`: a task's best model into the MLflow registry when it beats the champion.

The output, results/champions/<name>.json, is what the pipeline's numbers chose (the same on every
machine); which version the registry holds depends on the team's store and is printed.
"""

from __future__ import annotations

import sys

from rnnlab import params as P
from rnnlab import registry
from rnnlab.entry import run_stage


def run(name: str) -> None:
    cfg = P.load().registry
    registry.register_champion(name, cfg.prefix, cfg.alias)


if __name__ == "__main__":
    run_stage(run, sys.argv[1:])
