"""Service configuration: one YAML file plus typed ``DRIFTLINE_…`` environment variables.

Contract:

* The file is a mapping of sections (:data:`SECTIONS`). A section that is not one of them is an
  error naming it (``consumers: unknown section; did you mean 'consumer'?``). Each service
  validates its sections with its own top-level model (the consumer
  :class:`ConsumerServiceConfig`, the worker its own, the ``driftline`` command all of them);
  every command loads through :func:`load_config`, so every command sees the same overrides.
* Environment variables override the file: ``DRIFTLINE_<SECTION>__<KEY>[__<KEY>…]``, lower-cased
  and split on double underscores. A value keeps its string: the field's type converts it
  (``DRIFTLINE_CONSUMER__BATCH_SIZE=64`` is the integer 64), and nothing is parsed as YAML, so a
  secret such as ``0123``, ``off``, ``*x`` or ``[1`` stays exactly that string. A field that holds
  a list or a mapping takes JSON (``DRIFTLINE_DETECTION__KNOWN_MODELS='["fraud"]'``).
* Kafka client properties contain dots, so in the environment their dots are written as single
  underscores and mapped back, in ``kafka`` and in the per-client property maps:
  ``DRIFTLINE_KAFKA__SASL_MECHANISM=PLAIN`` → ``kafka: {sasl.mechanism: PLAIN}``. Any librdkafka
  property passes through unchanged, so SASL/SSL clusters work.
* Errors are :class:`~detectors.exceptions.ConfigError` (exit 2), one line per problem, naming the
  field, and the variable when the value came from the environment:
  ``DRIFTLINE_CONSUMER__COMMIT_INTERVAL_MS (consumer.commit_interval_ms): Input should be greater
  than or equal to 1``.

>>> cfg = ServiceConfig.model_validate({"kafka": {"bootstrap.servers": "localhost:9092"}})
>>> cfg.topics.drift, cfg.kafka["bootstrap.servers"]
('driftline.drift', 'localhost:9092')
>>> load_config(ServiceConfig, environ={"DRIFTLINE_KAFKA__SASL_PASSWORD": "0123"}).kafka
{'bootstrap.servers': 'localhost:9092', 'sasl.password': '0123'}
"""

from __future__ import annotations

import difflib
import json
import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from detectors.config import DetectionConfig
from detectors.contracts import describe_validation_error
from detectors.exceptions import ConfigError
from detectors.field_mapping import FieldMapping

ENV_PREFIX = "DRIFTLINE_"
SECRET_MARKERS = ("password", "secret", "key", "token", "jaas")

#: Every top-level section of ``driftline.yaml``, whichever service reads it.
SECTIONS: tuple[str, ...] = (
    "kafka", "topics", "topic_layout", "consumer", "detection", "field_mapping", "worker",
)

#: Free-form maps of librdkafka properties: in the environment, their keys' dots are underscores.
KAFKA_PROPERTY_MAPS: frozenset[tuple[str, ...]] = frozenset({
    ("kafka",),
    ("consumer", "consumer_properties"),
    ("consumer", "producer_properties"),
    ("worker", "consumer"),
    ("worker", "producer"),
})


KafkaValue = str | int | float | bool
DEFAULT_KAFKA: dict[str, KafkaValue] = {"bootstrap.servers": "localhost:9092"}


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
    """The sections every Driftline service reads: Kafka client properties and topic names.

    Sections of :data:`SECTIONS` that a service does not read are left out by
    :func:`load_config` before validation; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

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
    #: With ``commit_on_catch_up`` this is the longest wait while a backlog is read.
    commit_interval_ms: int = Field(default=200, ge=1, le=60_000)
    #: Also commit right after a batch that left the consumer caught up (it held records, and
    #: fewer than ``batch_size`` records remain to read), instead of waiting for
    #: ``commit_interval_ms``: outputs become visible one batch after their input arrives
    #: (produce-to-drift-event latency), at the cost of more, smaller transactions at moderate
    #: load. A backlog still commits every ``commit_interval_ms``.
    commit_on_catch_up: bool = True
    #: How often each partition's changed state is snapshotted to the state topic (in the commit
    #: transaction); a restore replays the inputs committed since. At or below
    #: ``commit_interval_ms``: every commit writes snapshots (no replay; each writes every
    #: changed model's detector state, and of its label join the newest entries and the
    #: segments whose entries changed).
    snapshot_interval_ms: int = Field(default=10_000, ge=0, le=3_600_000)
    #: Most records taken from the client per batch. A batch's outputs wait for the whole batch
    #: (and its commit); smaller batches cost more per-batch overhead: 300 fell ~2-3 s behind
    #: at 10 000 events/s on the bench machine where 1 000 kept up
    #: (bench/results/consumer_throughput.md).
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
    #: How often the heap is swept whole by the garbage collector; 0 (the default): never.
    #: Between sweeps the detection state is frozen out of the collector's walks
    #: (:mod:`consumer.gc_policy`), so garbage reference cycles are not reclaimed. The service
    #: makes none per record (bench/results/gc_pauses.md: the same 8 unreachable objects after
    #: 21 000 and 105 000 records, 5 % of them bad); set this if its memory grows anyway. A sweep
    #: stalls the processing thread ~5 s per 100 000 keys with three detectors.
    gc_full_sweep_interval_s: float = Field(default=0.0, ge=0)
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


def _unwrap(annotation: Any) -> Any:
    """``X | None`` → ``X``; other annotations as they are."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _annotation_at(model: type[BaseModel], path: list[str]) -> Any:
    """The annotation of the value at ``path`` in ``model`` (``Any`` where it cannot tell)."""
    annotation: Any = model
    for part in path:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(part)
            if field is None:
                return Any
            annotation = field.annotation
        elif get_origin(annotation) is dict and len(get_args(annotation)) == 2:
            annotation = get_args(annotation)[1]
        else:
            return Any
    return _unwrap(annotation)


def _takes_json(annotation: Any) -> bool:
    """Whether a field of this type is given as JSON in the environment (a list or mapping)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return get_origin(annotation) in (list, tuple, set, frozenset, dict) or annotation in (
        list, tuple, set, frozenset, dict)


def _env_overrides(
    model: type[BaseModel], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """The overrides as a nested mapping, and the config path each variable set."""
    overrides: dict[str, Any] = {}
    origins: dict[tuple[str, ...], str] = {}
    for name, raw in sorted(environ.items()):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        path = [part.lower() for part in name[len(ENV_PREFIX):].split("__")]
        if path[0] not in SECTIONS:
            raise ConfigError(f"{name}: {_unknown_section(path[0])}")
        if any(not part for part in path):
            raise ConfigError(f"{name}: empty key between double underscores")
        for prefix in KAFKA_PROPERTY_MAPS:
            if tuple(path[: len(prefix)]) == prefix and len(path) == len(prefix) + 1:
                path[-1] = path[-1].replace("_", ".")
        value: Any = raw
        if _takes_json(_annotation_at(model, path)):
            try:
                value = json.loads(raw)
            except ValueError as exc:
                raise ConfigError(f"{name} ({'.'.join(path)}): expected JSON (a list or a "
                                  f"mapping), got {raw!r}: {exc}") from exc
        node = overrides
        for part in path[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[path[-1]] = value
        origins[tuple(path)] = name
    return overrides, origins


def _unknown_section(name: str) -> str:
    close = difflib.get_close_matches(name, SECTIONS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown section {name!r}; {hint}the sections are {', '.join(SECTIONS)}"


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


def load_config(
    model: type[ConfigT],
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ConfigT:
    """Read ``path`` (YAML, optional), apply ``DRIFTLINE_…`` overrides, validate with ``model``.

    Raises :class:`~detectors.exceptions.ConfigError` naming the offending field or variable.
    """
    data: dict[str, Any] = {}
    where = ""
    if path is not None:
        file = Path(path)
        where = f"{file}: "
        if not file.exists():
            raise ConfigError(f"config file {file} does not exist")
        try:
            loaded = yaml.safe_load(file.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {file} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {file} must be a mapping of sections")
        unknown = [str(name) for name in loaded if name not in SECTIONS]
        if unknown:
            raise ConfigError("\n".join(f"{where}{name}: {_unknown_section(name)}"
                                         for name in unknown))
        data = loaded
    overrides, origins = _env_overrides(model, os.environ if environ is None else environ)
    data = deep_merge(data, overrides)
    data = {name: value for name, value in data.items() if name in model.model_fields}

    def locate(loc: tuple[str | int, ...]) -> str:
        dotted = ".".join(str(part) for part in loc) or "(root)"
        for n in range(len(loc), 0, -1):
            variable = origins.get(tuple(str(part) for part in loc[:n]))
            if variable is not None:
                return f"{variable} ({dotted})"
        return f"{where}{dotted}"

    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc, limit=20, separator="\n",
                                                    locate=locate)) from exc


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
    "SECTIONS",
    "ConfigError",
    "ConsumerServiceConfig",
    "ConsumerSettings",
    "ServiceConfig",
    "TopicLayout",
    "TopicNames",
    "deep_merge",
    "load_config",
    "mask_secrets",
]
