"""DVC stage `train`: python stages/train.py TASK VARIANT EMBEDDING INPUT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import train

if __name__ == "__main__":
    run_stage(train.run, sys.argv[1:])
