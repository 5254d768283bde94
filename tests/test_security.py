"""Security: crafted checkpoints, YAML and archives are refused before they can run code or write
outside their directory, and credentials stay out of messages and the tracking store."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnlab import archives, checkpoint, params as P, tracking
from rnnlab.errors import RnnlabError
from rnnlab.models import RecurrentClassifier
from rnnlab.vocab import Vocabulary


class RunsCode:
    """What a malicious pickle holds: unpickling it calls os.system."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def model_dir(tmp_path):
    vocab = Vocabulary(["free", "prize", "call", "hi"])
    vocab.save(tmp_path / "vocab.json")
    emb = np.zeros((len(vocab), 4), dtype=np.float32)
    config = {"variant": "lstm", "labels": ["ham", "spam"], "vocab_size": len(vocab), "embedding_dim": 4,
              "hidden": 3, "layers": 1, "dropout": 0.0, "input_mode": "packed", "max_len": 50}
    out = tmp_path / "model"
    out.mkdir()
    checkpoint.save(RecurrentClassifier(emb, "lstm", 2, hidden=3), config, tmp_path / "vocab.json", out)
    return out


def test_a_checkpoint_that_would_run_code_is_refused(model_dir, tmp_path):
    marker = tmp_path / "PWNED"
    torch.save({"embedding.weight": RunsCode(marker)}, model_dir / checkpoint.WEIGHTS)
    with pytest.raises(RnnlabError) as err:
        checkpoint.load(model_dir)
    assert str(err.value) == f"{model_dir / checkpoint.WEIGHTS}: not a weights-only checkpoint, refused to load " \
                             "(it would call posix.system)"
    # the command line says the same in one line, and nothing ran
    done = subprocess.run([str(Path(sys.executable).parent / "rnnlab"), "predict", "sms", "--model-dir", str(model_dir),
                           "hello"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == [f"error: {err.value}"]
    assert not marker.exists()


@pytest.mark.parametrize("name", ["params.yaml", "catalog.yaml", "dvc.lock"])
def test_yaml_tags_that_would_run_code_are_refused(in_project, name):
    marker = in_project / "PWNED"
    text = f"seed: !!python/object/apply:os.system ['touch {marker}']\n"
    (in_project / name).write_text(text)
    from rnnlab import catalog

    if name == "dvc.lock":  # read for MLflow tags after a stage's outputs are written: tagged unknown, never fatal
        assert tracking.dvc_hash("data", in_project / name) == "unknown"
        assert not marker.exists()
        return
    readers = {"params.yaml": lambda: P.load(in_project / name),
               "catalog.yaml": lambda: catalog.load(in_project / name)}
    with pytest.raises((RnnlabError, __import__("yaml").YAMLError)) as err:
        readers[name]()
    assert "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'" in str(err.value)
    assert not marker.exists()


def tar_with(*members: tarfile.TarInfo, data: bytes = b"x") -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for info in members:
            if info.isfile():
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
            else:
                t.addfile(info)
    return buf


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


@pytest.mark.parametrize("members, message", [
    ([member("corpus/../../evil.txt")], r"unsafe member path 'corpus/../../evil.txt' \(path traversal\)"),
    ([member("/tmp/evil.txt")], r"unsafe member path '/tmp/evil.txt' \(path traversal\)"),
    ([member("corpus/etc", tarfile.SYMTYPE, "/etc")], r"link 'corpus/etc' -> '/etc' points outside the target"),
    ([member("corpus/up", tarfile.SYMTYPE, "../..")], r"link 'corpus/up' -> '../..' points outside the target"),
    ([member("corpus/hard", tarfile.LNKTYPE, "../../../etc/passwd")], r"link 'corpus/hard' -> '../../../etc/passwd' points outside"),
    ([member("corpus/dev", tarfile.CHRTYPE)], r"member 'corpus/dev' is a special file"),
    ([member("corpus/fifo", tarfile.FIFOTYPE)], r"member 'corpus/fifo' is a special file"),
])
def test_archives_cannot_write_or_link_outside_their_directory(tmp_path, members, message):
    archive, out = tmp_path / "a.tar", tmp_path / "deep" / "out"
    out.mkdir(parents=True)
    archive.write_bytes(tar_with(member("corpus/ok.txt"), *members).getvalue())
    before = sorted(p for p in tmp_path.rglob("*"))
    with pytest.raises(archives.UnsafeArchive, match=message):
        archives.extract_all(archive, out)
    created = sorted(p for p in tmp_path.rglob("*") if p not in before)
    assert all(out in p.parents for p in created), created  # at most the harmless member, inside out/
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/evil.txt").exists()


def test_zip_traversal_and_size_bombs_are_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as z:
        z.writestr("../evil.txt", b"owned")
    with pytest.raises(archives.UnsafeArchive, match=r"unsafe member path '../evil.txt'"):
        archives.extract_all(slip, out)
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros", b"\0" * 2_000_000)  # 2 KB compressed
    with pytest.raises(archives.UnsafeArchive, match=r"archive expands beyond 1000000 bytes"):
        archives.extract_all(bomb, out, max_bytes=1_000_000)
    assert not (tmp_path / "evil.txt").exists() and not (out / "zeros").exists()


def test_passwords_in_a_tracking_uri_are_not_shown():
    uri = "http://alice:s3cret@127.0.0.1:9"  # nothing listens on port 9
    with pytest.raises(RnnlabError) as err:
        tracking.require_reachable(uri, timeout=2)
    assert "http://alice:***@127.0.0.1:9" in str(err.value) and "s3cret" not in str(err.value)
