"""DVC stage `news_embed`: python stages/news_embed.py (see dvc.yaml)."""

import sys

from rnnlab.entry import run_stage
from rnnlab.steps import news_embed

if __name__ == "__main__":
    run_stage(news_embed.run, sys.argv[1:])
