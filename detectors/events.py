"""Decoded input events: the typed objects the detection core runs on.

:class:`InputPrediction` and :class:`InputLabel` carry exactly the fields, values and Python
types of the pydantic contracts :class:`~detectors.contracts.Prediction` and
:class:`~detectors.contracts.Label` (which stay the published schema and the reference for what
is valid), as `msgspec <https://jcristharif.com/msgspec/>`_ structs: decoding straight into them
from JSON costs a fraction of a pydantic validation, and they are small (``__slots__``, no
per-instance dict). They are built only by :mod:`detectors.decoding`, which guarantees they hold
what the contract would have accepted.

``type`` is a class attribute (the JSON tag), so ``event.type`` reads as on the contract models.

>>> from datetime import UTC, datetime
>>> p = InputPrediction(prediction_id="p1", model_id="m", model_version="v1",
...                     timestamp=datetime(2024, 5, 1, tzinfo=UTC), prediction=True)
>>> p.type, p.schema_version, p.features, p.score, p.segment
('prediction', 1, {}, None, None)
>>> import gc
>>> gc.is_tracked(p)
False
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import msgspec

from detectors.contracts import SCHEMA_VERSION, Label, Prediction

__all__ = [
    "EventTime",
    "InputEvent",
    "InputLabel",
    "InputPrediction",
    "from_contract",
]

if TYPE_CHECKING:
    EventTime = datetime
else:
    #: ``timestamp`` as msgspec reads it: any JSON value, which :mod:`detectors.decoding` then
    #: converts into an aware UTC :class:`~datetime.datetime` with the contract's own function
    #: (a decode hook cannot: msgspec checks that a hook returns the declared type).
    EventTime = Any


NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
TargetStr = Annotated[str, msgspec.Meta(max_length=256)]
#: Feature values and targets: the JSON forms the contract accepts without coercion. A JSON
#: number with a fraction or exponent is a float, one without is an int; non-finite numbers
#: cannot be written in strict JSON (an overflow is refused as out of range).
FeatureValue = bool | int | float | str | None
Target = bool | int | float | TargetStr


class _Input(msgspec.Struct, kw_only=True, tag_field="type", gc=False):
    """What a prediction and a label both carry.

    ``gc=False``: the collector never tracks an event (its values are JSON's: strings,
    numbers, a flat mapping, a datetime, so it cannot be part of a reference cycle). A
    prediction waits in the join until its label comes; untracked, it costs the collector's
    walks nothing (``bench/gc_pauses.py``).
    """

    schema_version: int = SCHEMA_VERSION
    prediction_id: NonEmptyStr
    model_id: NonEmptyStr
    timestamp: EventTime


class InputPrediction(_Input, kw_only=True, tag="prediction"):
    """A model's output for one input (see :class:`detectors.contracts.Prediction`)."""

    type: ClassVar[str] = "prediction"
    model_version: NonEmptyStr
    features: dict[str, FeatureValue] = msgspec.field(default_factory=dict)
    prediction: Target
    score: float | None = None
    segment: NonEmptyStr | None = None


class InputLabel(_Input, kw_only=True, tag="label"):
    """The ground truth for a prediction (see :class:`detectors.contracts.Label`)."""

    type: ClassVar[str] = "label"
    label: Target


#: What the detection core accepts: a decoded event, or a contract model (tests, tools).
InputEvent = InputPrediction | InputLabel


def from_contract(event: Prediction | Label) -> InputPrediction | InputLabel:
    """The decoded form of a validated contract model (same values, same objects).

    >>> from detectors.contracts import Label
    >>> from_contract(Label(prediction_id="p", model_id="m", timestamp=0, label="x")).label
    'x'
    """
    fields: dict[str, Any] = dict(event.__dict__)
    fields.pop("type", None)
    if isinstance(event, Prediction):
        return InputPrediction(**fields)
    return InputLabel(**fields)
