"""DVC stage `vocab`: python stages/vocab.py TASK (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import vocab

if __name__ == "__main__":
    run_stage(vocab.run, sys.argv[1:])
