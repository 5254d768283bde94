"""DVC stage `sentiment_attributions`: python stages/attributions.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import attributions

if __name__ == "__main__":
    run_stage(attributions.run, sys.argv[1:])
