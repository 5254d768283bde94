"""The one model-directory format of every task: config.json (with the task kind) + model.pt (weights).

A kind may add files beside them (a classifier's vocab.json, a character LM's chars.json). Weights
load weights-only: torch's restricted unpickler refuses any code a crafted file would run, and a
model file that is a link is refused, so a directory cannot point a loader at another file.
"""

from __future__ import annotations

import copy
import io
import json
import pickle
import re
from pathlib import Path
from typing import Callable

import torch

from rnnlab import atomic, device
from rnnlab.errors import RnnlabError

WEIGHTS, CONFIG = "model.pt", "config.json"


def save(model: torch.nn.Module, config: dict, out: Path) -> None:
    """Weights and config (which must name its kind) into the directory being written."""
    assert "kind" in config, "a model directory records the kind of task that trained it"
    state = model.state_dict()
    if any(t.device.type != "cpu" for t in state.values()):  # GPU-trained weights load on any machine
        state = copy.deepcopy(model).cpu().state_dict()
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic.write_bytes(Path(out) / WEIGHTS, buf.getvalue())
    atomic.write_json(Path(out) / CONFIG, config)


def read_config(model_dir: Path, also: tuple[str, ...] = ()) -> dict:
    """The directory's config, after checking that it holds the weights and the kind's other files."""
    model_dir = Path(model_dir)
    for name in (WEIGHTS, CONFIG, *also):
        if (model_dir / name).is_symlink():
            raise RnnlabError(f"{model_dir / name}: a link; a model directory holds its own files, refused")
        if not (model_dir / name).is_file():
            raise RnnlabError(f"{model_dir}: missing {name}; not a model directory ({_how_to_make(model_dir)})")
    try:
        config = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RnnlabError(f"{model_dir / CONFIG}: not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise RnnlabError(f"{model_dir / CONFIG}: not a JSON object")
    return config


def _how_to_make(model_dir: Path) -> str:
    """The commands that make a pipeline model directory (models/<task>/<run>, stage <task>_train@<run>)."""
    parts = Path(model_dir).parts
    if len(parts) >= 3 and parts[-3] == "models":
        stage = f"{parts[-2]}_train@{parts[-1]}"
        return f"`dvc pull {stage}` fetches it from the team's remote, `dvc repro {stage}` trains it"
    return f"`dvc pull` or `dvc repro` the stage that writes {model_dir}"


def weights(model_dir: Path) -> dict:
    """Tensors only: torch's weights-only unpickler refuses code a crafted file would run."""
    path = Path(model_dir) / WEIGHTS
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as e:
        refused = re.search(r"unsupported GLOBAL ([\w.]+)", str(e), re.I)
        raise RnnlabError(f"{path}: not a weights-only checkpoint, refused to load"
                          f"{f' (it would call {refused.group(1)})' if refused else ''}") from None


def load(model_dir: Path, build: Callable[[dict], torch.nn.Module], what: str,
         also: tuple[str, ...] = (), size_check: bool = True) -> tuple[torch.nn.Module, dict]:
    """The directory's model, built by build(config) and filled with its weights; config too.

    The model is first built without memory (torch's meta device) and its size checked against
    model.pt's, so a config.json asking for more than the weights it comes with (hidden: 10**9)
    is refused before anything is allocated; a config a builder cannot read is one line too.
    size_check=False where the builder cannot run on the meta device (a pretrained encoder's loader).
    """
    config = read_config(model_dir, also)
    path = Path(model_dir) / CONFIG
    try:
        need, have = 0, (Path(model_dir) / WEIGHTS).stat().st_size
        if size_check:
            with torch.device("meta"):
                need = sum(t.numel() * t.element_size() for t in build(config).state_dict().values())
        if need > 2 * have + (1 << 20):
            raise RnnlabError(f"{path}: describes {need / 1e6:,.1f} MB of weights but {WEIGHTS} holds "
                              f"{have / 1e6:,.1f} MB; refused")
        model = build(config)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RuntimeError, MemoryError) as e:
        detail = f"missing key {e}" if isinstance(e, KeyError) else str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RnnlabError(f"{path}: does not describe {what} ({detail})") from None
    return load_into(model, model_dir, what), config


def load_into(model: torch.nn.Module, model_dir: Path, what: str) -> torch.nn.Module:
    """The directory's weights into a model built from its config, in eval mode, on this process's device."""
    try:
        model.load_state_dict(weights(model_dir))
    except RuntimeError as e:
        raise RnnlabError(f"{Path(model_dir) / WEIGHTS}: does not fit {what} ({str(e).splitlines()[0]})") from None
    return device.to(model).eval()
