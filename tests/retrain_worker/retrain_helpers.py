"""Helpers of the retrain worker tests (a uniquely named module: tests are not packages)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from detectors.contracts import LabelledRecord


def make_records(
    n: int,
    *,
    model_id: str = "fraud",
    seed: int = 0,
    flip: bool = False,
    one_class: bool = False,
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC),
    logged_accuracy: float = 0.5,
) -> list[LabelledRecord]:
    """Separable binary data: label = x0 + 0.5·x1 > 0 (inverted when ``flip``); the logged
    predictions are right with probability ``logged_accuracy``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x0, x1 = rng.normal(size=2)
        label = bool(x0 + 0.5 * x1 > 0) != flip
        if one_class:
            label = True
        predicted = label if rng.random() < logged_accuracy else not label
        at = start + timedelta(seconds=i)
        out.append(
            LabelledRecord(
                prediction_id=f"{model_id}-{seed}-{i}",
                model_id=model_id,
                model_version="v1",
                predicted_at=at,
                labelled_at=at + timedelta(seconds=1),
                features={"x0": float(x0), "x1": float(x1)},
                prediction=predicted,
                label=label,
            )
        )
    return out
