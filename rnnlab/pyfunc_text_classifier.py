"""Models-from-code file of an evaluation run's logged classifier (rnnlab.pyfunc.TextClassifier)."""

from mlflow.models import set_model

from rnnlab.pyfunc import TextClassifier

set_model(TextClassifier())
