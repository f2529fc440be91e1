"""Labelled records → a training set: a numeric feature matrix, labels, a time-ordered holdout.

Contract:

* records are ordered by ``predicted_at`` (then ``prediction_id``), so the holdout is always the
  most recent slice, the same for champion and challenger;
* the feature set is the union of numeric and boolean features, sorted by name; booleans become
  0/1, missing values and nulls become NaN; string features are left out of the matrix (a custom
  trainer still sees them in ``records``);
* the task is inferred from the labels unless configured: booleans and strings are
  classification, integers with few distinct values too, anything else is regression.

>>> from datetime import UTC, datetime
>>> from detectors.contracts import LabelledRecord
>>> t = datetime(2024, 1, 1, tzinfo=UTC)
>>> recs = [LabelledRecord(prediction_id=f"p{i}", model_id="m", model_version="v1",
...         predicted_at=t.replace(second=i), labelled_at=t.replace(second=i),
...         features={"x": float(i), "flag": i % 2 == 0, "city": "Oslo"},
...         prediction=False, label=i > 5) for i in range(10)]
>>> ds = build_dataset(list(reversed(recs)))
>>> ds.task, ds.feature_names, ds.X.shape, ds.y[:3]
('classification', ['flag', 'x'], (10, 2), [False, False, False])
>>> train, holdout = split_holdout(ds, fraction=0.2, min_holdout=1)
>>> len(train), [r.prediction_id for r in holdout.records]
(8, ['p8', 'p9'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from detectors.contracts import LabelledRecord

Task = Literal["classification", "regression"]
#: Integer labels with at most this many distinct values are treated as classes.
MAX_INTEGER_CLASSES = 20


def infer_task(labels: Sequence[Any]) -> Task:
    """``classification`` or ``regression`` from the label values.

    >>> infer_task([True, False]), infer_task(["a", "b"]), infer_task([1, 2, 1]), infer_task([0.5, 1.5])
    ('classification', 'classification', 'classification', 'regression')
    """
    if any(isinstance(v, bool | str) for v in labels):
        return "classification"
    if all(isinstance(v, int) for v in labels) and len(set(labels)) <= MAX_INTEGER_CLASSES:
        return "classification"
    return "regression"


@dataclass(frozen=True)
class Dataset:
    """Time-ordered records with their feature matrix and labels."""

    records: list[LabelledRecord]
    feature_names: list[str]
    X: np.ndarray
    y: list[Any]
    task: Task

    def __len__(self) -> int:
        return len(self.records)

    def subset(self, start: int, stop: int) -> Dataset:
        return Dataset(
            self.records[start:stop],
            self.feature_names,
            self.X[start:stop],
            self.y[start:stop],
            self.task,
        )


def _numeric(value: Any) -> float:
    if value is None or isinstance(value, str):
        return float("nan")
    return float(value)


def feature_matrix(records: Sequence[LabelledRecord], names: Sequence[str]) -> np.ndarray:
    """The float matrix of ``records`` with the columns ``names`` (NaN where missing)."""
    X = np.full((len(records), len(names)), np.nan, dtype=np.float64)
    for i, record in enumerate(records):
        for j, name in enumerate(names):
            X[i, j] = _numeric(record.features.get(name))
    return X


def build_dataset(
    records: Sequence[LabelledRecord], task: Literal["auto", "classification", "regression"] = "auto"
) -> Dataset:
    ordered = sorted(records, key=lambda r: (r.predicted_at, r.prediction_id))
    names = sorted(
        {
            name
            for r in ordered
            for name, value in r.features.items()
            if value is not None and not isinstance(value, str)
        }
    )
    X = feature_matrix(ordered, names)
    y = [r.label for r in ordered]
    resolved: Task = infer_task(y) if task == "auto" else task
    return Dataset(ordered, names, X, y, resolved)


def split_holdout(ds: Dataset, fraction: float, min_holdout: int) -> tuple[Dataset, Dataset]:
    """(train, holdout): the holdout is the most recent ``fraction`` (at least ``min_holdout``)."""
    size = min(len(ds), max(min_holdout, round(len(ds) * fraction)))
    cut = len(ds) - size
    return ds.subset(0, cut), ds.subset(cut, len(ds))


def class_balance(labels: Sequence[Any]) -> dict[str, float]:
    """Share of each class, keyed by the class's JSON text.

    >>> class_balance([True, False, True, True])
    {'false': 0.25, 'true': 0.75}
    """
    if not labels:
        return {}
    counts: dict[str, int] = {}
    for value in labels:
        key = label_key(value)
        counts[key] = counts.get(key, 0) + 1
    return {k: counts[k] / len(labels) for k in sorted(counts)}


def label_key(value: Any) -> str:
    """A label as JSON text, so ``True`` and ``1`` stay distinct classes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def feature_stats(ds: Dataset) -> dict[str, dict[str, float]]:
    """Mean and standard deviation of each numeric feature (NaNs ignored): the reference window
    a later distribution check compares against."""
    out: dict[str, dict[str, float]] = {}
    for j, name in enumerate(ds.feature_names):
        column = ds.X[:, j]
        column = column[~np.isnan(column)]
        if column.size:
            out[name] = {"mean": float(column.mean()), "std": float(column.std())}
    return out


__all__ = [
    "Dataset",
    "Task",
    "build_dataset",
    "class_balance",
    "feature_matrix",
    "feature_stats",
    "infer_task",
    "label_key",
    "split_holdout",
]
