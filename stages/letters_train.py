"""DVC stage `letters_train`: python stages/letters_train.py FEATURE VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import letters_train

if __name__ == "__main__":
    run_stage(letters_train.run, sys.argv[1:])
