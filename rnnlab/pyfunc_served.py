"""Models-from-code file of a registered champion (rnnlab.pyfunc.ServedModel)."""

from mlflow.models import set_model

from rnnlab.pyfunc import ServedModel

set_model(ServedModel())
