"""Check a DVC remote before pushing or pulling, so a bad setup is one line with a hint.

DVC itself reports an unreachable S3 endpoint or missing keys as "unexpected error" plus a
support banner and asyncio warnings; `rnnlab remote check|push|pull` asks the remote first
(5-second timeouts, no retries) and only then hands over to `dvc push/pull --run-cache`.
Nothing local is touched by a failed check or a failed transfer: the cache and workspace stay.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from rnnlab.errors import RnnlabError


def settings(name: str | None = None, root: Path = Path(".")) -> tuple[str, dict]:
    """(remote name, its merged DVC config: project + --local + --global)."""
    from dvc.repo import Repo

    config = Repo(str(root)).config
    name = name or config["core"].get("remote")
    if not name:
        raise RnnlabError("no DVC remote: add one with `dvc remote add -d team s3://BUCKET/PATH` (see README, "
                          "Sharing results through a DVC remote)")
    if name not in config["remote"]:
        raise RnnlabError(f"no DVC remote named {name!r} (known: {', '.join(config['remote']) or 'none'})")
    return name, dict(config["remote"][name])


def _check_s3(name: str, conf: dict) -> str:
    import boto3
    import botocore.exceptions as bx
    from botocore.config import Config

    url = urlsplit(conf["url"])
    where = conf["url"] + (f" at {conf['endpointurl']}" if conf.get("endpointurl") else "")
    session = boto3.session.Session(aws_access_key_id=conf.get("access_key_id"),
                                    aws_secret_access_key=conf.get("secret_access_key"),
                                    profile_name=conf.get("profile"), region_name=conf.get("region") or "us-east-1")
    if session.get_credentials() is None:
        raise RnnlabError(f"DVC remote {name!r} ({where}): no credentials; export AWS_ACCESS_KEY_ID and "
                          f"AWS_SECRET_ACCESS_KEY, or `dvc remote modify --local {name} access_key_id ...`")
    client = session.client("s3", endpoint_url=conf.get("endpointurl"),
                            config=Config(connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}))
    try:
        client.head_bucket(Bucket=url.netloc)
    except (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ReadTimeoutError) as e:
        raise RnnlabError(f"DVC remote {name!r} ({where}): not reachable ({type(e).__name__}); check the network "
                          f"or the endpoint (`dvc remote modify {name} endpointurl URL`)") from None
    except bx.ClientError as e:
        code = e.response.get("Error", {}).get("Code", "?")
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise RnnlabError(f"DVC remote {name!r} ({where}): the credentials were refused ({code}); check "
                              "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY") from None
        if code in ("404", "NoSuchBucket"):
            raise RnnlabError(f"DVC remote {name!r} ({where}): bucket {url.netloc!r} does not exist; create it "
                              "or fix the remote's url") from None
        raise RnnlabError(f"DVC remote {name!r} ({where}): {code} ({str(e).splitlines()[0]})") from None
    except bx.NoCredentialsError:
        raise RnnlabError(f"DVC remote {name!r} ({where}): no credentials; export AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY") from None
    return where


def _check_directory(name: str, conf: dict) -> str:
    path = Path(conf["url"])
    existing = next((p for p in (path, *path.parents) if p.exists()), None)
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        raise RnnlabError(f"DVC remote {name!r} ({path}): not writable here ({existing or path} is missing or "
                          "read-only); mount the shared disk or fix the path with `dvc remote modify`")
    return str(path)


def check(name: str | None = None) -> str:
    """Raise RnnlabError in one line unless the remote answers; return a description of it."""
    name, conf = settings(name)
    scheme = urlsplit(conf["url"]).scheme
    if scheme == "s3":
        where = _check_s3(name, conf)
    elif scheme in ("", "file"):
        where = _check_directory(name, conf)
    else:
        where = conf["url"]  # other clouds: DVC's own errors
    return f"DVC remote {name!r} ({where}) answers"


def transfer(direction: str, name: str | None = None, extra: list[str] = ()) -> int:
    """`dvc push|pull --run-cache` after a successful check; DVC's exit status."""
    print(check(name), file=sys.stderr)
    cmd = [sys.executable, "-m", "dvc", direction, "--run-cache", *(["-r", name] if name else []), *extra]
    return subprocess.run(cmd).returncode
