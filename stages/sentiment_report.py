"""DVC stage `sentiment_report`: python stages/sentiment_report.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import sentiment_report

if __name__ == "__main__":
    run_stage(sentiment_report.run, sys.argv[1:])
