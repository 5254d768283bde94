"""HTTP(S) downloads that survive flaky networks: timeouts, retries with backoff, resume.

A partial download is kept as `<cache>/<key>.part`; the next attempt (in this run or a
later one) asks the server for the rest with a Range request, and starts over when the
server does not support ranges.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

CHUNK = 1 << 20
PARTIAL_DIR = Path(".rnnlab") / "downloads"


class DownloadFailed(Exception):
    pass


# this machine's disk, not the network: no retry, no next source, and no partial file left filling it
LOCAL_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES}


def _partial_path(url: str) -> Path:
    return PARTIAL_DIR / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".part")


def _attempt(url: str, part: Path, timeout: float) -> None:
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        resumed = have and resp.status == 206
        if not resumed:
            have = 0  # the server sent the whole file again
        length = resp.headers.get("Content-Length")
        total = have + int(length) if length is not None else None
        with open(part, "ab" if resumed else "wb") as f, \
                tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=Path(url).name[:40],
                     leave=False, disable=None) as bar:
            # read1: whatever has arrived, flushed at once, so a killed process leaves the bytes it got
            while chunk := resp.read1(CHUNK):
                f.write(chunk)
                f.flush()
                bar.update(len(chunk))
            size = f.tell()
    if total is not None and size < total:
        raise DownloadFailed(f"truncated: got {size} of {total} bytes")


def download(url: str, dest: Path, timeout: float = 30, retries: int = 3) -> None:
    """Download url to dest, retrying transient failures (5xx, timeouts, resets, truncation)."""
    part = _partial_path(url)
    part.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(retries + 1):
        last = attempt == retries
        try:
            _attempt(url, part, timeout)
            shutil.move(part, dest)
            return
        except urllib.error.HTTPError as e:
            if e.code == 416:  # our partial file is already complete or bogus: start over
                part.unlink(missing_ok=True)
            if (e.code < 500 and e.code != 416) or last:
                raise DownloadFailed(f"HTTP {e.code} {e.reason}") from None
        except (TimeoutError, socket.timeout):
            if last:
                raise DownloadFailed(f"timed out after {timeout:g} s without data") from None
        except DownloadFailed:
            if last:
                raise
        except (urllib.error.URLError, http.client.HTTPException, ConnectionError, OSError) as e:
            if getattr(e, "errno", None) in LOCAL_ERRNOS and not isinstance(e, urllib.error.URLError):
                part.unlink(missing_ok=True)
                raise OSError(e.errno, e.strerror, str(part)) from None
            reason = getattr(e, "reason", e)
            if last and isinstance(reason, (TimeoutError, socket.timeout)):
                raise DownloadFailed(f"timed out after {timeout:g} s without data") from None
            if last:
                raise DownloadFailed(f"unreachable ({reason})") from None
        backoff(min(0.5 * 2**attempt, 8))


def backoff(seconds: float) -> None:
    time.sleep(seconds)
