"""Champion/challenger: both models scored on the same time-ordered holdout; promote or reject.

Contract: :func:`compare` promotes only when the challenger beats the champion on the configured
metric by at least ``min_improvement`` (higher is better for accuracy, F1, precision and recall;
lower for MAE and RMSE). Without a champion score (a model's first training) the challenger is
promoted. F1, precision and recall are binary when the classes are 0/1 or booleans (positive
class 1/``True``), macro-averaged otherwise.

>>> m = metrics("classification", [True, True, False, False], [True, False, False, False])
>>> m["accuracy"], round(m["f1"], 3)
(0.75, 0.667)
>>> compare("accuracy", {"accuracy": 0.70}, {"accuracy": 0.74}, min_improvement=0.02)
(True, 'accuracy 0.7000 -> 0.7400 (+0.0400 >= 0.02)')
>>> compare("mae", {"mae": 1.0}, {"mae": 0.99}, min_improvement=0.05)
(False, 'mae 1.0000 -> 0.9900 (-0.0100, needs an improvement of 0.05)')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from retrain_worker.training_data import Task, label_key

LOWER_IS_BETTER = frozenset({"mae", "rmse"})


def resolve_metric(metric: str, task: Task) -> str:
    if metric == "auto":
        return "accuracy" if task == "classification" else "mae"
    return metric


def _prf(y_true: list[str], y_pred: list[str], positive: str) -> tuple[float, float, float]:
    tp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == positive and p == positive)
    fp = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t != positive and p == positive)
    fn = sum(1 for t, p in zip(y_true, y_pred, strict=True) if t == positive and p != positive)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def _class_key(value: Any) -> str:
    # 1, 1.0 and True are the same class when the labels are 0/1.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(value))
    return label_key(value)


def metrics(task: Task, y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, float]:
    """Every metric of the task, for one model's predictions on the holdout."""
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_pred)} predictions for {len(y_true)} labels")
    if not y_true:
        return {}
    if task == "regression":
        errors = [float(p) - float(t) for t, p in zip(y_true, y_pred, strict=True)]
        mae = sum(abs(e) for e in errors) / len(errors)
        rmse = math.sqrt(sum(e * e for e in errors) / len(errors))
        return {"mae": mae, "rmse": rmse}
    true = [_class_key(v) for v in y_true]
    pred = [_class_key(v) for v in y_pred]
    out = {"accuracy": sum(1 for t, p in zip(true, pred, strict=True) if t == p) / len(true)}
    classes = sorted(set(true) | set(pred))
    if set(classes) <= {"0", "1"}:
        out["precision"], out["recall"], out["f1"] = _prf(true, pred, "1")
    else:
        scores = [_prf(true, pred, c) for c in classes]
        for i, name in enumerate(("precision", "recall", "f1")):
            out[name] = sum(s[i] for s in scores) / len(scores)
    return out


def compare(
    metric: str,
    champion: dict[str, float],
    challenger: dict[str, float],
    min_improvement: float,
) -> tuple[bool, str]:
    """(promote?, why) for the challenger against the champion."""
    new = challenger[metric]
    if metric not in champion:
        return True, f"{metric} {new:.4f}, no champion to compare with"
    old = champion[metric]
    gain = old - new if metric in LOWER_IS_BETTER else new - old
    delta = f"{new - old:+.4f}"
    if gain > 0 and gain >= min_improvement - 1e-12:
        return True, f"{metric} {old:.4f} -> {new:.4f} ({delta} >= {min_improvement:g})"
    return False, (
        f"{metric} {old:.4f} -> {new:.4f} ({delta}, needs an improvement of {min_improvement:g})"
    )


__all__ = ["LOWER_IS_BETTER", "compare", "metrics", "resolve_metric"]
