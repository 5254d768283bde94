"""DVC stage `evaluate`: python stages/evaluate.py TASK VARIANT EMBEDDING INPUT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import evaluate

if __name__ == "__main__":
    run_stage(evaluate.run, sys.argv[1:])
