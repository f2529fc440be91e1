"""Driftline's retrain worker: drift events and triggers in, retrain decisions out (SPEC §2, §5).

The public API is re-exported here; ``tests/retrain_worker/test_public_api.py`` keeps ``__all__``
honest. Kafka-free parts (policy, checks, trainer isolation, evaluation, registry) import without
a broker; :class:`RetrainWorker` is the Kafka service behind ``driftline retrain-worker``.
"""

from retrain_worker.config import ModelPolicy, WorkerConfig, WorkerServiceConfig
from retrain_worker.contracts import Evaluation, RetrainEvent, TrainingWindow, Trigger
from retrain_worker.exceptions import (
    RegistryError,
    RetrainWorkerError,
    TrainerError,
)
from retrain_worker.registry import FileRegistry, ModelRegistry, RegisteredModel
from retrain_worker.service import RetrainWorker, run_worker
from retrain_worker.trainer import TrainingRequest, TrainingResult

__all__ = [
    "Evaluation",
    "FileRegistry",
    "ModelPolicy",
    "ModelRegistry",
    "RegisteredModel",
    "RegistryError",
    "RetrainEvent",
    "RetrainWorker",
    "RetrainWorkerError",
    "TrainerError",
    "TrainingRequest",
    "TrainingResult",
    "TrainingWindow",
    "Trigger",
    "WorkerConfig",
    "WorkerServiceConfig",
    "run_worker",
]
