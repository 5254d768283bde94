"""DVC stage `letters_prepare`: python stages/letters_prepare.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import letters_prepare

if __name__ == "__main__":
    run_stage(letters_prepare.run, sys.argv[1:])
