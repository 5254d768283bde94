"""MLflow pyfunc flavours of model directories, logged as models-from-code: MLflow stores the short
code files beside this module (pyfunc_*.py), never a pickle of a Python object.

TextClassifier  (logged with every SMS/IMDB evaluation run) DataFrame `text` -> label + one column per class
ServedModel     (registered champions, every task; rnnlab.serving) DataFrame `text` -> label (author,
                language) + probabilities; for poetry DataFrame `prompt` [+ length, temperature, seed] -> text

rnnlab itself never loads these flavours: `predict` and the registry read only the model directory
(weights-only) out of a registered model's artifacts (rnnlab.registry.load), so nothing stored on a
tracking server or artifact store runs as code on a teammate's machine. Other MLflow consumers
(`mlflow.pyfunc.load_model`, `mlflow models serve`) import the code files as MLflow always does.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow.pyfunc
import pandas as pd

CODE = {"text_classifier": Path(__file__).with_name("pyfunc_text_classifier.py"),
        "served": Path(__file__).with_name("pyfunc_served.py")}


class TextClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from rnnlab.checkpoint import Predictor

        self.predictor = Predictor(context.artifacts["model_dir"])

    def predict(self, context, model_input: pd.DataFrame, params=None):
        texts = model_input["text"].tolist() if isinstance(model_input, pd.DataFrame) else list(model_input)
        return pd.DataFrame(self.predictor.predict([str(t) for t in texts]))


class ServedModel(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        from rnnlab import serving

        self.predictor = serving.load(context.artifacts["model_dir"], context.artifacts.get("encoder_dir"))

    def predict(self, context, model_input: pd.DataFrame, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame({"text": list(model_input)})
        if hasattr(self.predictor, "generate"):
            return pd.DataFrame([{"prompt": row["prompt"], "text": self.predictor.generate(
                str(row["prompt"]), int(row.get("length", 400)), float(row.get("temperature", 0.5)),
                int(row.get("seed", 0)))} for row in frame.to_dict("records")])
        return pd.DataFrame(self.predictor.predict([str(t) for t in frame["text"]]))


def log_text_classifier(name: str, model_dir: Path, examples: list[str]) -> None:
    """The model as a pyfunc named TASK-RUN, with its signature (text in; label and one probability per
    class out) and an input example, which MLflow checks by predicting it once."""
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    import rnnlab
    from rnnlab.tracking import PIP_REQUIREMENTS

    labels = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))["labels"]
    signature = ModelSignature(inputs=Schema([ColSpec("string", "text")]),
                               outputs=Schema([ColSpec("string", "label"), *(ColSpec("double", l) for l in labels)]))
    mlflow.pyfunc.log_model(  # models-from-code: no pickle in the artifact (rnnlab/pyfunc.py)
        name=name, python_model=str(CODE["text_classifier"]), artifacts={"model_dir": str(model_dir)},
        code_paths=[str(Path(rnnlab.__file__).parent)], pip_requirements=PIP_REQUIREMENTS,
        signature=signature, input_example=pd.DataFrame({"text": examples[:3]}))
