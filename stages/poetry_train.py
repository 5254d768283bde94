"""DVC stage `poetry_train`: python stages/poetry_train.py VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import poetry_train

if __name__ == "__main__":
    run_stage(poetry_train.run, sys.argv[1:])
