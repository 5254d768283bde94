"""DVC stage `letters_features`: python stages/letters_features.py KIND (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import letters_features

if __name__ == "__main__":
    run_stage(letters_features.run, sys.argv[1:])
