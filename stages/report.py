"""DVC stage `report`: python stages/report.py TASK (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import report

if __name__ == "__main__":
    run_stage(report.run, sys.argv[1:])
