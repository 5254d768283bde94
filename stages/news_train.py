"""DVC stage `news_train`: python stages/news_train.py VARIANT (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import news_train

if __name__ == "__main__":
    run_stage(news_train.run, sys.argv[1:])
