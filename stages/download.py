"""DVC stage `download`: python stages/download.py NAME (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import download

if __name__ == "__main__":
    run_stage(download.run, sys.argv[1:])
