"""The built-in trainer: standardised logistic regression (classification) or ridge regression.

numpy only. Entry point: ``retrain_worker.default_trainer:train``. Missing values are imputed with
the training mean; features are standardised; classification is multinomial logistic regression
fitted by full-batch gradient descent with L2; regression is closed-form ridge. Deterministic.

Parameters (``trainer_params``): ``l2`` (default 1e-3), ``iterations`` (300), ``learning_rate``
(0.5).

>>> import numpy as np
>>> from retrain_worker.trainer import TrainingRequest
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 2))
>>> y = [bool(v) for v in X[:, 0] + 0.5 * X[:, 1] > 0]
>>> result = train(TrainingRequest(model_id="m", task="classification", feature_names=["a", "b"],
...                                features=X, labels=y))
>>> model = result.model
>>> acc = np.mean([p == t for p, t in zip(model.predict(X), y)])
>>> bool(acc > 0.95), model.classes
(True, [False, True])
>>> reg = train(TrainingRequest(model_id="m", task="regression", feature_names=["a", "b"],
...                             features=X, labels=list(3 * X[:, 0] + 1)))
>>> [round(float(v), 2) for v in reg.model.predict(np.array([[0.0, 0.0], [1.0, 0.0]]))]
[1.0, 4.0]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from retrain_worker.trainer import TrainingRequest, TrainingResult


@dataclass
class LinearModel:
    """A fitted linear model; ``predict`` takes the feature matrix (columns = ``feature_names``)."""

    task: str
    feature_names: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    classes: list[Any] = field(default_factory=list)

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=np.float64)
        X = np.where(np.isnan(X), self.mean, X)
        return (X - self.mean) / self.scale

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self._prepare(X) @ self.weights + self.bias)

    def predict(self, X: np.ndarray) -> list[Any]:
        z = self.decision_function(X)
        if self.task == "regression":
            return [float(v) for v in z.ravel()]
        return [self.classes[i] for i in np.argmax(z, axis=1)]

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = self.decision_function(X)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


def _standardise(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mean = np.nanmean(X, axis=0) if X.size else np.zeros(X.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    X = np.where(np.isnan(X), mean, X)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    return (X - mean) / scale, mean, scale


def train(request: TrainingRequest) -> TrainingResult:
    params = request.params
    l2 = float(params.get("l2", 1e-3))
    X = np.asarray(request.features, dtype=np.float64)
    Z, mean, scale = _standardise(X)
    n, d = Z.shape
    if request.task == "regression":
        y = np.asarray(request.labels, dtype=np.float64)
        A = np.hstack([Z, np.ones((n, 1))])
        reg = l2 * n * np.eye(d + 1)
        reg[d, d] = 0.0
        coef = np.linalg.solve(A.T @ A + reg, A.T @ y)
        model = LinearModel("regression", list(request.feature_names), mean, scale,
                            coef[:d].reshape(d, 1), coef[d:].reshape(1))
        fit = float(np.mean(np.abs(A @ coef - y)))
        return TrainingResult(model=model, metadata={"trainer": "ridge", "train_mae": fit})

    classes = sorted(set(request.labels), key=lambda v: (type(v).__name__, v))
    index = {c: i for i, c in enumerate(classes)}
    Y = np.zeros((n, len(classes)))
    Y[np.arange(n), [index[v] for v in request.labels]] = 1.0
    W = np.zeros((d, len(classes)))
    b = np.zeros(len(classes))
    lr = float(params.get("learning_rate", 0.5))
    for _ in range(int(params.get("iterations", 300))):
        logits = Z @ W + b
        logits -= logits.max(axis=1, keepdims=True)
        P = np.exp(logits)
        P /= P.sum(axis=1, keepdims=True)
        G = (P - Y) / n
        W -= lr * (Z.T @ G + l2 * W)
        b -= lr * G.sum(axis=0)
    model = LinearModel("classification", list(request.feature_names), mean, scale, W, b,
                        list(classes))
    train_acc = float(np.mean(np.argmax(Z @ W + b, axis=1) == Y.argmax(axis=1))) if n else 0.0
    return TrainingResult(
        model=model, metadata={"trainer": "logistic_regression", "train_accuracy": train_acc}
    )


__all__ = ["LinearModel", "train"]
