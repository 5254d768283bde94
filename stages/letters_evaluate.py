"""DVC stage `letters_evaluate`: python stages/letters_evaluate.py FEATURE VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import letters_evaluate

if __name__ == "__main__":
    run_stage(letters_evaluate.run, sys.argv[1:])
