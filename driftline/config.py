"""The whole ``driftline.yaml``: every section of every service, loaded the same way by every
command.

Contract:

* :func:`load` reads the file and the ``DRIFTLINE_…`` environment through
  :func:`consumer.config.load_config` (the one loader) into :class:`DriftlineConfig`, which holds
  every section (:data:`consumer.config.SECTIONS`). So every command, from ``consume`` to
  ``replay`` and ``calibrate``, sees the same overrides, refuses the same unknown sections and
  names the same field or variable in its errors (:class:`~detectors.exceptions.ConfigError`,
  exit 2).
* Each command passes on the part it needs (``config.detection`` to replay, the whole to the
  consumer, which reads its own sections).
* :func:`render` is what ``--print-config`` prints: every section with its effective value,
  secrets in free-form maps masked (:func:`consumer.config.mask_secrets`).

This module lives in the composition root because it is the only place that may import both
services' configuration models.

>>> config = load(None, environ={"DRIFTLINE_DETECTION__COOLDOWN_SAMPLES": "50"})
>>> config.detection.cooldown_samples, config.worker.group_id
(50, 'driftline-retrain')
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from consumer.config import ConsumerServiceConfig, load_config, mask_secrets
from retrain_worker.config import WorkerServiceConfig


class DriftlineConfig(ConsumerServiceConfig, WorkerServiceConfig):
    """Every section of ``driftline.yaml``: the consumer's and the retrain worker's."""


def load(path: str | Path | None, environ: Mapping[str, str] | None = None) -> DriftlineConfig:
    """The configuration from ``path`` (None: defaults) and the environment."""
    return load_config(DriftlineConfig, path, environ)


def render(config: DriftlineConfig) -> str:
    """The effective configuration as YAML, secrets masked (``--print-config``)."""
    import yaml

    return yaml.safe_dump(mask_secrets(config), sort_keys=False)


__all__ = ["DriftlineConfig", "load", "render"]
