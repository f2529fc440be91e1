"""Trainers that misbehave, for the isolation tests (imported by the trainer child process)."""

from __future__ import annotations

import os
import time
from typing import Any

from retrain_worker.default_trainer import train as default_train
from retrain_worker.trainer import TrainingRequest, TrainingResult


def raises(request: TrainingRequest) -> Any:
    raise RuntimeError("boom from the trainer")


def hangs(request: TrainingRequest) -> Any:
    time.sleep(3600)


def garbage(request: TrainingRequest) -> Any:
    return "not a model"


def wrong_length(request: TrainingRequest) -> Any:
    class Model:
        def predict(self, X: Any) -> list[int]:
            return [1]

    return TrainingResult(model=Model(), metadata={})


def dies(request: TrainingRequest) -> Any:
    os._exit(9)


def slow(request: TrainingRequest) -> TrainingResult:
    """The default trainer, after ``params['sleep_s']`` seconds (a long training)."""
    time.sleep(float(request.params.get("sleep_s", 0)))
    return default_train(request)


def as_tuple(request: TrainingRequest) -> Any:
    result = default_train(request)
    return result.model, {"note": "tuple form"}
