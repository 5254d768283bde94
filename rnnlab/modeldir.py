"""The one model-directory format of every task: config.json (with the task kind) + model.pt (weights).

A kind may add files beside them (a classifier's vocab.json, a character LM's chars.json). Weights
load weights-only: torch's restricted unpickler refuses any code a crafted file would run, and a
model file that is a link is refused, so a directory cannot point a loader at another file.
"""

from __future__ import annotations

import io
import json
import pickle
import re
from pathlib import Path

import torch

from rnnlab import atomic
from rnnlab.errors import RnnlabError

WEIGHTS, CONFIG = "model.pt", "config.json"


def save(model: torch.nn.Module, config: dict, out: Path) -> None:
    """Weights and config (which must name its kind) into the directory being written."""
    assert "kind" in config, "a model directory records the kind of task that trained it"
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    atomic.write_bytes(Path(out) / WEIGHTS, buf.getvalue())
    atomic.write_json(Path(out) / CONFIG, config)


def read_config(model_dir: Path, also: tuple[str, ...] = ()) -> dict:
    """The directory's config, after checking that it holds the weights and the kind's other files."""
    model_dir = Path(model_dir)
    for name in (WEIGHTS, CONFIG, *also):
        if not (model_dir / name).is_file():
            raise RnnlabError(f"{model_dir}: missing {name}; not a model directory (`dvc repro` or `dvc pull` "
                              f"the stage that writes {model_dir})")
    try:
        config = json.loads((model_dir / CONFIG).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RnnlabError(f"{model_dir / CONFIG}: not valid JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(config, dict):
        raise RnnlabError(f"{model_dir / CONFIG}: not a JSON object")
    return config


def weights(model_dir: Path) -> dict:
    """Tensors only: torch's weights-only unpickler refuses code a crafted file would run."""
    path = Path(model_dir) / WEIGHTS
    try:
        return torch.load(path, weights_only=True)
    except pickle.UnpicklingError as e:
        refused = re.search(r"unsupported GLOBAL ([\w.]+)", str(e), re.I)
        raise RnnlabError(f"{path}: not a weights-only checkpoint, refused to load"
                          f"{f' (it would call {refused.group(1)})' if refused else ''}") from None


def load_into(model: torch.nn.Module, model_dir: Path, what: str) -> torch.nn.Module:
    """The directory's weights into a model built from its config, in eval mode."""
    try:
        model.load_state_dict(weights(model_dir))
    except RuntimeError as e:
        raise RnnlabError(f"{Path(model_dir) / WEIGHTS}: does not fit {what} ({str(e).splitlines()[0]})") from None
    return model.eval()
