"""Service configuration: one YAML file plus ``DRIFTLINE_…`` environment variables.

Contract:

* The file is a mapping with sections; each service validates the sections it owns with its own
  top-level model (the consumer with :class:`ConsumerServiceConfig`, the worker with its own) and
  ignores the others, so one ``driftline.yaml`` serves the whole stack.
* Environment variables override the file: ``DRIFTLINE_<SECTION>__<KEY>[__<KEY>…]``, lower-cased
  and split on double underscores; values are parsed as YAML scalars (``"5"`` → 5). Kafka client
  properties contain dots, so they are written with single underscores in the environment and
  mapped back: ``DRIFTLINE_KAFKA__SASL_MECHANISM=PLAIN`` → ``kafka: {sasl.mechanism: PLAIN}``.
* Any librdkafka property passes through the ``kafka:`` section unchanged, so SASL/SSL work.
* Errors name the field: ``ConfigError("topics.state: ...")``.

>>> cfg = ServiceConfig.model_validate({"kafka": {"bootstrap.servers": "localhost:9092"}})
>>> cfg.topics.drift, cfg.kafka["bootstrap.servers"]
('driftline.drift', 'localhost:9092')
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from consumer.field_mapping import FieldMapping
from detectors.config import DetectionConfig

ENV_PREFIX = "DRIFTLINE_"
SECRET_MARKERS = ("password", "secret", "key", "token", "jaas")


KafkaValue = str | int | float | bool
DEFAULT_KAFKA: dict[str, KafkaValue] = {"bootstrap.servers": "localhost:9092"}


class ConfigError(ValueError):
    """The configuration is invalid; the message names the field and what to fix."""


class TopicNames(BaseModel):
    """Kafka topic names. Set ``predictions`` and ``labels`` to the same topic to read one topic
    that carries both event types (discriminated by ``type``)."""

    model_config = ConfigDict(extra="forbid")

    predictions: str = "driftline.predictions"
    labels: str = "driftline.labels"
    drift: str = "driftline.drift"
    triggers: str = "driftline.triggers"
    retrain: str = "driftline.retrain"
    labelled: str = "driftline.labelled"
    state: str = "driftline.state"
    dlq: str = "driftline.dlq"

    def inputs(self) -> list[str]:
        """The input topics, without duplicates, in a stable order."""
        return list(dict.fromkeys([self.predictions, self.labels]))


class TopicLayout(BaseModel):
    """How ``driftline topics create`` creates topics."""

    model_config = ConfigDict(extra="forbid")

    partitions: int = Field(default=6, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    #: Retention of the drift, retrain and DLQ topics (ms); -1 keeps them forever.
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)
    #: Retention of the labelled topic, the training data (ms).
    labelled_retention_ms: int = Field(default=30 * 24 * 3600 * 1000, ge=-1)


class ServiceConfig(BaseModel):
    """The sections every Driftline service reads: Kafka client properties and topic names."""

    model_config = ConfigDict(extra="ignore")

    #: librdkafka properties, passed through as they are (``bootstrap.servers``, ``security.*``…).
    kafka: dict[str, KafkaValue] = Field(default_factory=lambda: dict(DEFAULT_KAFKA))

    @field_validator("kafka")
    @classmethod
    def _keep_default_bootstrap(cls, value: dict[str, KafkaValue]) -> dict[str, KafkaValue]:
        """A ``kafka:`` section (or one ``DRIFTLINE_KAFKA__…`` variable) that sets other
        properties keeps the default ``bootstrap.servers`` instead of losing it."""
        return {**DEFAULT_KAFKA, **value}
    topics: TopicNames = Field(default_factory=TopicNames)
    topic_layout: TopicLayout = Field(default_factory=TopicLayout)


class ConsumerSettings(BaseModel):
    """The ``consumer:`` section: how ``driftline consume`` runs."""

    model_config = ConfigDict(extra="forbid")

    group_id: str = Field(default="driftline-consumer", min_length=1)
    #: Names this process in the group; with ``group_id`` it forms the ``transactional.id``, so a
    #: restarted instance fences its predecessor at once. Must differ between live processes.
    #: Defaults to the host name (a pod name on Kubernetes).
    instance_id: str | None = None
    #: How often outputs, state snapshots and input offsets are committed in one transaction.
    commit_interval_ms: int = Field(default=200, ge=1, le=60_000)
    #: How often each partition's changed state is snapshotted to the state topic (in the commit
    #: transaction); a restore replays the inputs committed since. At or below
    #: ``commit_interval_ms``: every commit writes snapshots (no replay, slower when state is
    #: large: a snapshot holds the model's pending joins).
    snapshot_interval_ms: int = Field(default=10_000, ge=0, le=3_600_000)
    #: Most records taken from the client per batch.
    batch_size: int = Field(default=1000, ge=1, le=100_000)
    #: How long one poll waits for records when the topics are idle.
    poll_timeout_s: float = Field(default=0.05, gt=0, le=10)
    #: How often the per-key gauges (``driftline_rolling_metric``, ``driftline_detector_statistic``)
    #: are recomputed. Each refresh walks every tracked key on the processing thread: about 20 µs
    #: per key with the default detectors (20 ms per 1 000 keys).
    model_gauges_interval_s: float = Field(default=10.0, gt=0, le=3600)
    #: Export ``driftline_detector_statistic``: about 22 series per tracked key with the default
    #: detectors (22 000 per 1 000 keys); turn off for large fleets.
    detector_statistics: bool = True
    #: Port of the HTTP server for ``/metrics``, ``/healthz`` and ``/readyz``; 0 picks a free one.
    metrics_port: int = Field(default=9108, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"
    #: Bound on SIGTERM/SIGINT handling: finish the batch, commit, close; else exit non-zero.
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    #: Bound on committing when partitions are revoked in a rebalance.
    revoke_timeout_s: float = Field(default=20.0, gt=0)
    #: Exit non-zero after no broker has answered for this long.
    broker_timeout_s: float = Field(default=120.0, gt=0)
    #: Where a new group starts reading the inputs.
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    #: Records larger than this are dead-lettered without being parsed. The default keeps every
    #: output a record makes (its labelled record: about its size) under Kafka's default 1 MB
    #: limits; raise it together with the producer's ``message.max.bytes`` and the output
    #: topics' ``max.message.bytes``.
    max_record_bytes: int = Field(default=900_000, ge=64)
    #: Accept records without a Kafka key; by default they are dead-lettered, since producers
    #: must key by ``model_id``.
    accept_unaddressed: bool = False
    #: Extra librdkafka properties for the consumer only / the producer only (after ``kafka:``).
    consumer_properties: dict[str, str | int | float | bool] = Field(default_factory=dict)
    producer_properties: dict[str, str | int | float | bool] = Field(default_factory=dict)


class ConsumerServiceConfig(ServiceConfig):
    """Everything ``driftline consume`` reads: the shared sections plus ``consumer:``,
    ``detection:`` (the detection core's own model) and ``field_mapping:`` (absent: events already
    have the contract's shape)."""

    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    detection: DetectionConfig = Field(default_factory=DetectionConfig)
    field_mapping: FieldMapping | None = None


ConfigT = TypeVar("ConfigT", bound=BaseModel)


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, raw in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX) :].split("__")]
        if path[0] == "kafka" and len(path) == 2:
            path[1] = path[1].replace("_", ".")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = yaml.safe_load(raw) if raw else raw
    return overrides


def deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` laid over it, mappings merged key by key.

    >>> deep_merge({"a": {"x": 1, "y": 2}, "b": 1}, {"a": {"y": 3}})
    {'a': {'x': 1, 'y': 3}, 'b': 1}
    """
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def format_validation_error(exc: ValidationError) -> str:
    """``field.path: message`` for each error, one per line."""
    return "\n".join(
        f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
    )


def load_config(
    model: type[ConfigT],
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigT:
    """Read ``path`` (YAML, optional), apply ``DRIFTLINE_…`` overrides, validate with ``model``.

    Raises :class:`ConfigError` naming the offending field.
    """
    data: dict[str, Any] = {}
    if path is not None:
        file = Path(path)
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist")
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {file} must be a mapping of sections")
        data = loaded
    data = deep_merge(data, _env_overrides(os.environ if environ is None else environ))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc)) from exc


def mask_secrets(config: BaseModel) -> dict[str, Any]:
    """The config's JSON dump with secrets replaced by ``***``, for logs and ``--print-config``.

    Secrets live in the free-form maps (librdkafka properties such as ``sasl.password``,
    trainer parameters): there, any value under a key containing one of
    :data:`SECRET_MARKERS` is masked. Driftline's own typed settings are shown as they are, even
    when their names contain a marker (``detection.max_tracked_keys``).

    >>> class Example(BaseModel):
    ...     max_tracked_keys: int = 5
    ...     kafka: dict[str, str] = {"sasl.password": "hunter2", "bootstrap.servers": "b:9092"}
    >>> mask_secrets(Example())
    {'max_tracked_keys': 5, 'kafka': {'sasl.password': '***', 'bootstrap.servers': 'b:9092'}}
    """
    masked: dict[str, Any] = _mask(config, config.model_dump(mode="json"), "", free_form=False)
    return masked


def _mask(value: Any, dumped: Any, key: str, *, free_form: bool) -> Any:
    """``dumped`` (the JSON dump of ``value``) with the secrets of free-form maps masked."""
    if isinstance(value, BaseModel) and isinstance(dumped, Mapping):
        return {name: _mask(getattr(value, name, None), d, name, free_form=False)
                for name, d in dumped.items()}
    if isinstance(dumped, Mapping):
        items = value if isinstance(value, Mapping) else {}
        return {k: _mask(items.get(k), d, str(k), free_form=True) for k, d in dumped.items()}
    if isinstance(dumped, list):
        values = list(value) if isinstance(value, list | tuple) else [None] * len(dumped)
        return [_mask(v, d, key, free_form=free_form)
                for v, d in zip(values, dumped, strict=False)]
    if free_form and dumped not in (None, "") and any(
            marker in key.lower() for marker in SECRET_MARKERS):
        return "***"
    return dumped


__all__ = [
    "ConfigError",
    "ConsumerServiceConfig",
    "ConsumerSettings",
    "ServiceConfig",
    "TopicLayout",
    "TopicNames",
    "deep_merge",
    "format_validation_error",
    "load_config",
    "mask_secrets",
]
