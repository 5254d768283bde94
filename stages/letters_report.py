"""DVC stage `letters_report`: python stages/letters_report.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import letters_report

if __name__ == "__main__":
    run_stage(letters_report.run, sys.argv[1:])
