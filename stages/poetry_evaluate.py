"""DVC stage `poetry_evaluate`: python stages/poetry_evaluate.py VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import poetry_evaluate

if __name__ == "__main__":
    run_stage(poetry_evaluate.run, sys.argv[1:])
