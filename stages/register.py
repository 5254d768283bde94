"""DVC stage `register@TASK`: python stages/register.py TASK (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import register

if __name__ == "__main__":
    run_stage(register.run, sys.argv[1:])
