"""Signal values from events: which numbers each signal reads, and the task of a prediction.

The contract (SPEC §4): ``feature:<name>`` reads a feature whose value is an ``int`` or a
``float`` (booleans, strings and nulls are not numeric features); ``score`` reads the optional
score; a joined (prediction, label) pair feeds ``error`` (0/1, classification) or ``residual``
(``|prediction − label|``, regression).

>>> is_numeric(3), is_numeric(2.5), is_numeric(True), is_numeric("3")
(True, True, False, False)
>>> is_regression(2.5, "auto"), is_regression(1, "auto"), is_regression(True, "regression")
(True, False, True)
>>> error_value("cat", "dog"), error_value(True, 1)
(1, 0)
>>> residual_value(2.5, 1), residual_value("a", 1) is None
(1.5, True)
"""

from __future__ import annotations

from typing import Any

__all__ = ["error_value", "is_numeric", "is_regression", "residual_value"]

_NUMERIC = (int, float)


def is_numeric(value: Any) -> bool:
    """An ``int`` or ``float`` that is not a boolean."""
    cls = value.__class__
    return cls is float or cls is int


def is_regression(predicted: Any, task: str) -> bool:
    """Whether a prediction is scored as regression (``residual``) or classification."""
    if task == "auto":
        return predicted.__class__ is float
    return task == "regression"


def error_value(predicted: Any, actual: Any) -> int:
    """1 when the prediction is wrong, 0 when it is right."""
    return 0 if predicted == actual else 1


def residual_value(predicted: Any, actual: Any) -> float | None:
    """``|predicted − actual|``, or None when either is not a number."""
    if isinstance(predicted, str) or isinstance(actual, str):
        return None
    return abs(float(predicted) - float(actual))
