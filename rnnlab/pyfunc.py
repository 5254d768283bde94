"""MLflow pyfunc flavours of model directories.

TextClassifier  (logged with every SMS/IMDB evaluation run) DataFrame `text` -> label + one column per class
ServedModel     (registered champions, every task; rnnlab.serving) DataFrame `text` -> label (author,
                language) + probabilities; for poetry DataFrame `prompt` [+ length, temperature, seed] -> text
"""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from rnnlab.checkpoint import Predictor


class TextClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
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
