"""A command's output as whole lines for a log: progress-bar redraws ("\\r") at most one per
`progress_every` seconds, terminal colour codes removed."""

from __future__ import annotations

import re
import time
from typing import Callable

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class LineSplitter:
    """Bytes in, whole lines out; carriage-return redraws (progress bars) throttled."""

    def __init__(self, on_line: Callable[[str], None], progress_every: float):
        self.on_line, self.progress_every = on_line, progress_every
        self.buffer, self.last_progress = "", 0.0

    def feed(self, text: str) -> None:
        self.buffer += text
        while True:
            cut = min((i for i in (self.buffer.find("\n"), self.buffer.find("\r")) if i >= 0), default=-1)
            if cut < 0:
                return
            line, ending, self.buffer = self.buffer[:cut], self.buffer[cut], self.buffer[cut + 1:]
            if ending == "\r":
                self._progress(line)
            else:
                self._emit(line)

    def _progress(self, line: str) -> None:
        now = time.monotonic()
        if now - self.last_progress >= self.progress_every:
            self.last_progress = now
            self._emit(line)

    def _emit(self, line: str) -> None:
        line = _ANSI.sub("", line).rstrip()
        if line:
            self.on_line(line)

    def close(self) -> None:
        self._emit(self.buffer)
        self.buffer = ""
