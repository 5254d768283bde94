"""DVC stage `seeds`: python stages/seeds.py TASK RUN (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import seeds

if __name__ == "__main__":
    run_stage(seeds.run, sys.argv[1:])
