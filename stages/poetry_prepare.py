"""DVC stage `poetry_prepare` (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import poetry_prepare

if __name__ == "__main__":
    run_stage(poetry_prepare.run, sys.argv[1:])
