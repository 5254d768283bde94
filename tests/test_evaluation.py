"""rnnlab.evaluation's numpy metrics give exactly sklearn's classification report and confusion matrix."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import classification_report
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from rnnlab import evaluation


def sklearn_report(y_true, y_pred, labels):
    """What rnnlab.evaluation.report wrote when it called sklearn (the code it replaced)."""
    rep = classification_report(y_true, y_pred, labels=range(len(labels)), target_names=labels,
                                output_dict=True, zero_division=0)
    rnd = lambda v: round(float(v), 6)
    out = {"accuracy": rnd(rep.pop("accuracy"))}
    for name, row in rep.items():
        out[name.replace(" ", "_")] = {k.replace("-", "_"): (int(v) if k == "support" else rnd(v)) for k, v in row.items()}
    return out


CASES = {
    "binary": (2, 700, None),
    "seven authors": (7, 150, None),
    "a class never predicted": (4, 90, 3),
    "a class absent from the test set": (5, 60, "absent"),
    "forty news categories, few rows": (40, 120, None),
}


@pytest.mark.parametrize("case", CASES)
def test_report_and_confusion_matrix_equal_sklearn(case):
    n, rows, twist = CASES[case]
    rng = np.random.default_rng(len(case))
    y_true = rng.integers(0, n, rows)
    y_pred = np.where(rng.random(rows) < 0.6, y_true, rng.integers(0, n, rows))  # mostly right, as a model is
    if twist == 3:
        y_pred[y_pred == 3] = 0
    if twist == "absent":
        y_true[y_true == 2] = 1
    labels = [f"class {i}" for i in range(n)]
    ours = evaluation.report(y_true, y_pred, labels)
    assert ours == sklearn_report(y_true, y_pred, labels)
    assert list(ours) == list(sklearn_report(y_true, y_pred, labels))  # the same key order in metrics files
    np.testing.assert_array_equal(evaluation.confusion_matrix(y_true, y_pred, n),
                                  sk_confusion_matrix(y_true, y_pred, labels=range(n)))
