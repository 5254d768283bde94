"""DVC stage `poetry_report` (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import poetry_report

if __name__ == "__main__":
    run_stage(poetry_report.run, sys.argv[1:])
