"""Model registry: where trained models live, and which version is the champion.

Contract of :class:`ModelRegistry` (implement it to use another store):

* :meth:`~ModelRegistry.save` stores an artifact and its metadata under (model_id, version) and
  returns the artifact's URI; saving the same version again replaces it (a retried training after
  a crash reuses its deterministic version);
* :meth:`~ModelRegistry.promote` makes a saved version the champion; the worker calls it only
  after the ``promoted`` event is committed, and again at start-up for the last promoted event of
  the decision log, so the champion pointer never runs ahead of the published decisions;
* :meth:`~ModelRegistry.champion` returns the current champion or None;
* :meth:`~ModelRegistry.local_path` gives a readable local file for an artifact URI (the trainer
  process loads the champion from it).

:func:`open_registry` picks the backend from the ``worker:`` config: MLflow when
``worker.mlflow`` is set (:mod:`retrain_worker.mlflow_registry`), else :class:`FileRegistry`.

:class:`FileRegistry` is the default: ``<root>/<model_id>/<version>/model.pkl`` and
``metadata.json``, plus ``<root>/<model_id>/CHAMPION`` holding the champion's version. Writes are
atomic (temporary name, then rename).

>>> import tempfile
>>> reg = FileRegistry(tempfile.mkdtemp())
>>> uri = reg.save("fraud", "r1", b"model-bytes", {"accuracy": 0.9})
>>> uri.startswith("file://") and uri.endswith("/fraud/r1/model.pkl")
True
>>> reg.champion("fraud") is None
True
>>> reg.promote("fraud", "r1")
>>> champ = reg.champion("fraud")
>>> champ.version, champ.metadata["accuracy"], reg.local_path(champ.uri).read_bytes()
('r1', 0.9, b'model-bytes')
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlparse

from retrain_worker.exceptions import RegistryError

if TYPE_CHECKING:
    from retrain_worker.config import WorkerConfig


@dataclass(frozen=True)
class RegisteredModel:
    model_id: str
    version: str
    uri: str
    metadata: dict[str, Any]


class ModelRegistry(ABC):
    """Where the worker stores challengers and finds the champion."""

    @abstractmethod
    def save(self, model_id: str, version: str, artifact: bytes, metadata: dict[str, Any]) -> str:
        """Store one version; return its artifact URI."""

    @abstractmethod
    def promote(self, model_id: str, version: str) -> None:
        """Make a saved version the champion."""

    @abstractmethod
    def champion(self, model_id: str) -> RegisteredModel | None:
        """The current champion, or None."""

    @abstractmethod
    def local_path(self, uri: str) -> Path:
        """A local file holding the artifact at ``uri``."""


def _safe(name: str) -> str:
    encoded = quote(name, safe="-_.")
    if encoded in ("", ".", ".."):
        raise RegistryError(f"{name!r} cannot name a registry directory")
    return encoded


class FileRegistry(ModelRegistry):
    """A directory tree on a (shared) file system."""

    ARTIFACT = "model.pkl"
    METADATA = "metadata.json"
    CHAMPION = "CHAMPION"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()

    def _dir(self, model_id: str, version: str | None = None) -> Path:
        base = self.root / _safe(model_id)
        return base if version is None else base / _safe(version)

    def save(self, model_id: str, version: str, artifact: bytes, metadata: dict[str, Any]) -> str:
        target = self._dir(model_id, version)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
            (staging / self.ARTIFACT).write_bytes(artifact)
            (staging / self.METADATA).write_text(
                json.dumps({"model_id": model_id, "version": version, **metadata},
                           indent=2, sort_keys=True, default=str)
            )
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        except OSError as exc:
            raise RegistryError(f"cannot save {model_id}/{version} under {self.root}: {exc}") from exc
        return (target / self.ARTIFACT).as_uri()

    def promote(self, model_id: str, version: str) -> None:
        if not (self._dir(model_id, version) / self.ARTIFACT).exists():
            raise RegistryError(f"cannot promote {model_id}/{version}: not in the registry")
        pointer = self._dir(model_id) / self.CHAMPION
        tmp = pointer.with_name(f".{self.CHAMPION}.{os.getpid()}")
        try:
            tmp.write_text(version + "\n")
            tmp.replace(pointer)
        except OSError as exc:
            raise RegistryError(f"cannot promote {model_id}/{version}: {exc}") from exc

    def get(self, model_id: str, version: str) -> RegisteredModel | None:
        directory = self._dir(model_id, version)
        if not (directory / self.ARTIFACT).exists():
            return None
        try:
            metadata = json.loads((directory / self.METADATA).read_text())
        except (OSError, ValueError):
            metadata = {}
        return RegisteredModel(model_id, version, (directory / self.ARTIFACT).as_uri(), metadata)

    def champion(self, model_id: str) -> RegisteredModel | None:
        pointer = self._dir(model_id) / self.CHAMPION
        try:
            version = pointer.read_text().strip()
        except FileNotFoundError:
            return None
        return self.get(model_id, version) if version else None

    def local_path(self, uri: str) -> Path:
        parsed = urlparse(uri)
        if parsed.scheme != "file":
            raise RegistryError(f"FileRegistry reads file:// URIs, not {uri!r}")
        return Path(unquote(parsed.path))


def open_registry(worker: WorkerConfig) -> ModelRegistry:
    """The registry ``worker`` configures: MLflow if ``worker.mlflow`` is set, else the file
    system at ``worker.registry_root``.

    >>> from retrain_worker.config import WorkerConfig
    >>> type(open_registry(WorkerConfig(registry_root=tempfile.mkdtemp()))).__name__
    'FileRegistry'
    """
    if worker.mlflow is not None:
        from retrain_worker.mlflow_registry import MlflowRegistry

        return MlflowRegistry(worker.mlflow)
    return FileRegistry(worker.registry_root)


__all__ = ["FileRegistry", "ModelRegistry", "RegisteredModel", "open_registry"]
