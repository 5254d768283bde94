"""DVC stage `news_prepare`: python stages/news_prepare.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import news_prepare

if __name__ == "__main__":
    run_stage(news_prepare.run, sys.argv[1:])
