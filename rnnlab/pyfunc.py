"""The MLflow pyfunc flavour of a model directory: DataFrame with a `text` column in, probabilities out."""

from __future__ import annotations

import mlflow.pyfunc
import pandas as pd

from rnnlab.checkpoint import Predictor


class TextClassifier(mlflow.pyfunc.PythonModel):
    def load_context(self, context):
        self.predictor = Predictor(context.artifacts["model_dir"])

    def predict(self, context, model_input, params=None):
        texts = model_input["text"].tolist() if isinstance(model_input, pd.DataFrame) else list(model_input)
        return pd.DataFrame(self.predictor.predict([str(t) for t in texts]))
