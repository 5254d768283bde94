"""DVC stage `news_evaluate`: python stages/news_evaluate.py VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import news_evaluate

if __name__ == "__main__":
    run_stage(news_evaluate.run, sys.argv[1:])
