"""Contracts the retrain worker reads and writes (SPEC §3): triggers in, retrain events out.

A :class:`Trigger` asks for a retrain on demand (``driftline trigger``); a :class:`RetrainEvent`
reports one decision of the worker to subscribers such as serving systems. Both follow the
conventions of :mod:`detectors.contracts` (``schema_version``, RFC 3339 timestamps, finite numbers).

>>> t = Trigger(trigger_id="t-1", model_id="fraud", reason="new data",
...             requested_by="alice", timestamp=1700000000000)
>>> t.model_dump_json()
'{"schema_version":1,"trigger_id":"t-1","model_id":"fraud","reason":"new data","requested_by":"alice","timestamp":"2023-11-14T22:13:20.000Z"}'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from detectors.contracts import SCHEMA_VERSION, FiniteFloat, NonEmptyStr, SchemaVersion, Timestamp

#: ``deferred`` is not an answer: it says once that a retrain waits for post-change labels; the
#: same triggers are answered later by one of the other four.
RetrainStatus = Literal["promoted", "rejected", "failed", "skipped", "deferred"]


class _Contract(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False)


class Trigger(_Contract):
    """An on-demand request to retrain one model."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    trigger_id: NonEmptyStr
    model_id: NonEmptyStr
    reason: str = Field(max_length=1024)
    requested_by: str = Field(max_length=256)
    timestamp: Timestamp


class TrainingWindow(_Contract):
    """Which labelled records a training used, and what the checks said about them."""

    start: Timestamp | None = None
    end: Timestamp | None = None
    #: The change point the window started from (records predicted at or after it), if any.
    change_point: Timestamp | None = None
    sample_count: int = Field(ge=0)
    class_balance: dict[str, FiniteFloat] = Field(default_factory=dict)
    checks_passed: list[str] = Field(default_factory=list)
    checks_failed: list[str] = Field(default_factory=list)


class Evaluation(_Contract):
    """Champion and challenger metrics on the same time-ordered holdout.

    ``champion_source`` says where the champion's predictions came from: the registry's champion
    artifact re-scored on the holdout, or the predictions logged with the labelled records (what
    the serving model actually answered) when the registry has no usable champion.
    """

    metric: str
    holdout_size: int = Field(ge=0)
    champion_source: Literal["registry", "logged_predictions", "none"] = "none"
    champion_version: str | None = None
    champion: dict[str, FiniteFloat] = Field(default_factory=dict)
    challenger: dict[str, FiniteFloat] = Field(default_factory=dict)


class RetrainEvent(_Contract):
    """One decision of the retrain worker, published once to the retrain topic."""

    schema_version: SchemaVersion = SCHEMA_VERSION
    event_id: NonEmptyStr
    model_id: NonEmptyStr
    status: RetrainStatus
    reason: str
    triggers: list[str] = Field(default_factory=list)
    previous_version: str | None = None
    new_version: str | None = None
    training: TrainingWindow | None = None
    evaluation: Evaluation | None = None
    artifact_uri: str | None = None
    duration_s: FiniteFloat = Field(ge=0)
    timestamp: Timestamp


__all__ = ["Evaluation", "RetrainEvent", "RetrainStatus", "TrainingWindow", "Trigger"]
