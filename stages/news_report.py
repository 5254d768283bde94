"""DVC stage `news_report`: python stages/news_report.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import news_report

if __name__ == "__main__":
    run_stage(news_report.run, sys.argv[1:])
