"""MLflow as the worker's model registry (``worker.mlflow``; ``pip install driftline[mlflow]``).

Contract (the :class:`~retrain_worker.registry.ModelRegistry` protocol, on MLflow's own objects):

* :meth:`MlflowRegistry.save` logs one MLflow run per trained challenger in the configured
  experiment — params: the training window (start, end, samples), trainer, task, triggers,
  previous version; metrics: ``champion_<metric>`` and ``challenger_<metric>`` on the holdout,
  ``holdout_size``, ``training_samples``; tags: ``driftline.*`` with the data checks passed and
  failed, the class balance and the decision; artifacts: ``model/model.pkl`` and
  ``model/metadata.json`` — then registers it as a new version of the registered model
  (``model_name`` with ``{model_id}``), tagged ``driftline.version`` = Driftline's version.
  It returns ``models:/<name>/<mlflow version>``, the retrain event's ``artifact_uri``.
  Saving a Driftline version again replaces the MLflow version that carried it.
* :meth:`MlflowRegistry.promote` moves the serving alias (``serving_alias``, default
  ``champion``) to that version; nothing else moves it, so a rejected challenger is registered
  but never served.
* :meth:`MlflowRegistry.champion` is the version the alias points at (None without one), with
  the metadata the worker saved; :meth:`MlflowRegistry.local_path` downloads an artifact once
  into a cache directory (by default a private temporary one, removed with the registry).
* Every MLflow failure is a :class:`~retrain_worker.exceptions.RegistryError` (the retrain
  fails with cause ``registry``); a missing ``mlflow`` package is one at construction, naming
  the extra to install.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from pathlib import Path
from typing import Any

from retrain_worker.config import MlflowRegistryConfig
from retrain_worker.exceptions import RegistryError
from retrain_worker.registry import ModelRegistry, RegisteredModel

VERSION_TAG = "driftline.version"
ARTIFACT_DIR = "model"
ARTIFACT = "model.pkl"
METADATA = "metadata.json"
_SCHEME = "models:/"


def models_uri(name: str, mlflow_version: str | int) -> str:
    """The ``models:/`` URI of a registered model version.

    >>> models_uri("fraud", 3)
    'models:/fraud/3'
    """
    return f"{_SCHEME}{name}/{mlflow_version}"


def parse_models_uri(uri: str) -> tuple[str, str]:
    """(registered model name, MLflow version) of a ``models:/<name>/<version>`` URI.

    >>> parse_models_uri("models:/fraud/3")
    ('fraud', '3')
    >>> parse_models_uri("file:///tmp/model.pkl")
    Traceback (most recent call last):
    ...
    retrain_worker.exceptions.RegistryError: MlflowRegistry reads models:/<name>/<version> URIs, not 'file:///tmp/model.pkl'
    """
    name, sep, version = uri.removeprefix(_SCHEME).rpartition("/")
    if not uri.startswith(_SCHEME) or not sep or not name or not version.isdigit():
        raise RegistryError(f"MlflowRegistry reads models:/<name>/<version> URIs, not {uri!r}")
    return name, version


def _params(model_id: str, version: str, metadata: dict[str, Any]) -> dict[str, str]:
    training = metadata.get("training") or {}
    params = {
        "model_id": model_id,
        "driftline_version": version,
        "previous_version": metadata.get("previous_version"),
        "trainer": metadata.get("trainer"),
        "task": metadata.get("task"),
        "window_start": training.get("start"),
        "window_end": training.get("end"),
        "window_samples": training.get("sample_count"),
        "triggers": ",".join(metadata.get("triggers") or []),
        "feature_names": ",".join(metadata.get("feature_names") or []),
    }
    return {k: str(v)[:6000] for k, v in params.items() if v is not None}


def _metrics(metadata: dict[str, Any]) -> dict[str, float]:
    evaluation = metadata.get("evaluation") or {}
    out: dict[str, float] = {}
    for side in ("champion", "challenger"):
        for name, value in (evaluation.get(side) or {}).items():
            if isinstance(value, int | float):
                out[f"{side}_{name}"] = float(value)
    if isinstance(evaluation.get("holdout_size"), int):
        out["holdout_size"] = float(evaluation["holdout_size"])
    samples = (metadata.get("training") or {}).get("sample_count")
    if isinstance(samples, int):
        out["training_samples"] = float(samples)
    return out


def _tags(version: str, metadata: dict[str, Any]) -> dict[str, str]:
    training = metadata.get("training") or {}
    evaluation = metadata.get("evaluation") or {}
    return {
        VERSION_TAG: version,
        "driftline.decision": str(metadata.get("decision", "")),
        "driftline.checks_passed": json.dumps(training.get("checks_passed", [])),
        "driftline.checks_failed": json.dumps(training.get("checks_failed", [])),
        "driftline.class_balance": json.dumps(training.get("class_balance", {}), default=str),
        "driftline.metric": str(evaluation.get("metric", "")),
        "driftline.champion_source": str(evaluation.get("champion_source", "")),
    }


class MlflowRegistry(ModelRegistry):
    """Models as MLflow registered-model versions; the champion is the serving alias."""

    def __init__(self, config: MlflowRegistryConfig, cache_dir: str | Path | None = None) -> None:
        try:
            from mlflow import MlflowClient
            from mlflow.exceptions import MlflowException
        except ImportError as exc:
            raise RegistryError(
                "worker.mlflow needs the mlflow client: pip install 'driftline[mlflow]'"
            ) from exc
        self.config = config
        self._error: type[Exception] = MlflowException
        self.client = MlflowClient(tracking_uri=config.tracking_uri,
                                   registry_uri=config.registry_uri or config.tracking_uri)
        if cache_dir is None:
            cache_dir = tempfile.mkdtemp(prefix="driftline-mlflow-")
            weakref.finalize(self, shutil.rmtree, cache_dir, ignore_errors=True)
        self.cache = Path(cache_dir)
        self._experiment_id: str | None = None

    def name(self, model_id: str) -> str:
        return self.config.model_name.format(model_id=model_id)

    # -- helpers ---------------------------------------------------------------------------

    def _experiment(self) -> str:
        if self._experiment_id is None:
            found = self.client.get_experiment_by_name(self.config.experiment)
            self._experiment_id = (found.experiment_id if found is not None else
                                   self.client.create_experiment(
                                       self.config.experiment,
                                       artifact_location=self.config.artifact_location))
        return self._experiment_id

    def _versions(self, name: str, version: str) -> list[Any]:
        """MLflow versions of ``name`` carrying Driftline version ``version``."""
        escaped = version.replace("'", "")
        return list(self.client.search_model_versions(
            f"name='{name}' and tags.`{VERSION_TAG}`='{escaped}'"))

    def _ensure_registered_model(self, name: str) -> None:
        try:
            self.client.get_registered_model(name)
        except self._error as exc:
            if getattr(exc, "error_code", "") != "RESOURCE_DOES_NOT_EXIST":
                raise
            self.client.create_registered_model(
                name, description="Driftline retrains; the serving version carries the "
                                  f"'{self.config.serving_alias}' alias.")

    # -- ModelRegistry ---------------------------------------------------------------------

    def save(self, model_id: str, version: str, artifact: bytes, metadata: dict[str, Any]) -> str:
        name = self.name(model_id)
        try:
            self._ensure_registered_model(name)
            for old in self._versions(name, version):
                self.client.delete_model_version(name, old.version)
            run = self.client.create_run(self._experiment(), run_name=f"{model_id}-{version}",
                                         tags={**_tags(version, metadata),
                                               "driftline.model_id": model_id})
            run_id = run.info.run_id
            for key, text in _params(model_id, version, metadata).items():
                self.client.log_param(run_id, key, text)
            for key, number in _metrics(metadata).items():
                self.client.log_metric(run_id, key, number)
            with tempfile.TemporaryDirectory(prefix="driftline-mlflow-save-") as tmp:
                (Path(tmp) / ARTIFACT).write_bytes(artifact)
                (Path(tmp) / METADATA).write_text(json.dumps(
                    {"model_id": model_id, "version": version, **metadata},
                    indent=2, sort_keys=True, default=str))
                self.client.log_artifacts(run_id, tmp, ARTIFACT_DIR)
            self.client.set_terminated(run_id)
            created = self.client.create_model_version(
                name, source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}", run_id=run_id,
                tags={VERSION_TAG: version,
                      "driftline.decision": str(metadata.get("decision", ""))},
                description=f"Driftline retrain {version} of {model_id}: "
                            f"{metadata.get('decision', '')}")
        except (self._error, OSError) as exc:
            raise RegistryError(f"cannot save {model_id}/{version} in MLflow "
                                f"({self.config.tracking_uri}): {exc}") from exc
        return models_uri(name, created.version)

    def promote(self, model_id: str, version: str) -> None:
        name = self.name(model_id)
        try:
            found = self._versions(name, version)
            if not found:
                raise RegistryError(f"cannot promote {model_id}/{version}: not in MLflow "
                                    f"model {name!r}")
            latest = max(found, key=lambda v: int(v.version))
            self.client.set_registered_model_alias(name, self.config.serving_alias,
                                                   latest.version)
        except self._error as exc:
            raise RegistryError(f"cannot promote {model_id}/{version} in MLflow: {exc}") from exc

    def champion(self, model_id: str) -> RegisteredModel | None:
        name = self.name(model_id)
        try:
            served = self.client.get_model_version_by_alias(name, self.config.serving_alias)
        except self._error as exc:
            if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST",
                                                   "INVALID_PARAMETER_VALUE"):
                return None  # no registered model yet, or no version carries the alias
            raise RegistryError(f"cannot read the champion of {model_id} from MLflow: "
                                f"{exc}") from exc
        uri = models_uri(name, served.version)
        try:
            metadata = json.loads(self._download(uri, METADATA).read_text())
        except (RegistryError, OSError, ValueError):
            metadata = {}
        version = (served.tags or {}).get(VERSION_TAG) or metadata.get("version") or uri
        return RegisteredModel(model_id, str(version), uri, metadata)

    def local_path(self, uri: str) -> Path:
        return self._download(uri, ARTIFACT)

    def _download(self, uri: str, file: str) -> Path:
        name, mlflow_version = parse_models_uri(uri)
        target = self.cache / name.replace("/", "_") / mlflow_version
        path = target / ARTIFACT_DIR / file
        if path.exists():
            return path
        try:
            served = self.client.get_model_version(name, mlflow_version)
            if served.run_id is None:
                raise RegistryError(f"{uri} has no run holding its artifacts")
            target.mkdir(parents=True, exist_ok=True)
            local = self.client.download_artifacts(served.run_id, f"{ARTIFACT_DIR}/{file}",
                                                   str(target))
        except (self._error, OSError) as exc:
            raise RegistryError(f"cannot download {file} of {uri}: {exc}") from exc
        return Path(local)


__all__ = ["MlflowRegistry", "models_uri", "parse_models_uri"]
