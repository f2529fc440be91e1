"""What the retrain worker checks before it starts: every trainer entry point loads.

Contract: :func:`check_trainers` imports each distinct trainer entry point of the configuration
(``worker.trainer`` and every ``worker.models.<id>.trainer``) in a short-lived child process,
as the trainings will (no user code runs in the worker process), and raises
:class:`~detectors.exceptions.ConfigError` (exit 2) naming the setting, the entry point and why
it does not load. Without it a broken entry point was found only at the first retrain.
"""

from __future__ import annotations

import subprocess
import sys

from detectors.exceptions import ConfigError
from retrain_worker.config import WorkerConfig

#: A bound on one import (a hang, not a speed: numpy alone took 3.7 s on a loaded machine).
IMPORT_TIMEOUT_S = 300.0

_CHECK = """
import sys
from retrain_worker.trainer import load_entry_point
try:
    load_entry_point(sys.argv[1])
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
    sys.exit(2)
"""


def trainer_settings(worker: WorkerConfig) -> dict[str, str]:
    """Entry point → the first setting that names it.

    >>> trainer_settings(WorkerConfig(models={"fraud": {"trainer": "m:f"}, "churn": {}}))
    {'retrain_worker.default_trainer:train': 'worker.trainer', 'm:f': 'worker.models.fraud.trainer'}
    """
    found = {worker.trainer: "worker.trainer"}
    if worker.policy.trainer:
        found.setdefault(worker.policy.trainer, "worker.policy.trainer")
    for model_id in worker.models:
        trainer = worker.policy_for(model_id).trainer
        if trainer:
            found.setdefault(trainer, f"worker.models.{model_id}.trainer")
    return found


def check_trainers(worker: WorkerConfig) -> None:
    """:class:`ConfigError` if an entry point does not load (module docstring)."""
    for entry_point, setting in trainer_settings(worker).items():
        try:
            result = subprocess.run([sys.executable, "-c", _CHECK, entry_point],
                                    capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S,
                                    check=False)
        except subprocess.TimeoutExpired:
            raise ConfigError(f"{setting}: importing {entry_point!r} did not finish within "
                              f"{IMPORT_TIMEOUT_S:g}s") from None
        if result.returncode != 0:
            lines = result.stderr.strip().splitlines()
            why = lines[-1] if lines else f"exit code {result.returncode}"
            raise ConfigError(f"{setting}: trainer entry point {entry_point!r} does not load: "
                              f"{why}")


__all__ = ["IMPORT_TIMEOUT_S", "check_trainers", "trainer_settings"]
