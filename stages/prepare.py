"""DVC stage `prepare`: python stages/prepare.py TASK (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import prepare

if __name__ == "__main__":
    run_stage(prepare.run, sys.argv[1:])
