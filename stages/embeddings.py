"""DVC stage `embeddings`: python stages/embeddings.py TASK KIND (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import embeddings

if __name__ == "__main__":
    run_stage(embeddings.run, sys.argv[1:])
