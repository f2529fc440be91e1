"""Replay: the detection pipeline over a JSONL file of prediction and label events, no Kafka.

Each line is one event (``type`` discriminates); its :class:`~detectors.contracts.Source` is
``(topic, partition 0, offset = 0-based line number)``. Lines are decoded by the consumer's own
decoder (:class:`~detectors.decoding.EventDecoder`, with the configuration's field mapping) and
fed to :meth:`~detectors.pipeline.Pipeline.process` exactly as Kafka records are, so replay and
the consumer refuse the same lines with the same reasons and publish the same drift events with
the same ids. Invalid lines are reported (line number
and reason) and skipped; they never stop the run. At the end of the file the labels still waiting
for a prediction are drained as orphans, so every line is accounted for.

>>> import io
>>> lines = io.BytesIO(b'{"type": "prediction", "prediction_id": "p", "model_id": "m",'
...     b' "model_version": "v1", "timestamp": 0, "prediction": 1}\\nnot json\\n')
>>> summary = replay_stream(lines, drift_out=io.StringIO())
>>> summary.events, summary.invalid, summary.balanced
(2, 1, True)
>>> summary.rejections[0][:2]
(1, 'deserialize:JSONDecodeError')
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, LabelledRecord, Source
from detectors.decoding import EventDecoder, Refusal
from detectors.encoding import drift_event_json
from detectors.field_mapping import FieldMapping
from detectors.labelled import labelled_json
from detectors.monitor import Clock, utc_now
from detectors.pipeline import Pipeline
from detectors.rejection import Rejection

__all__ = ["ReplaySummary", "replay_file", "replay_stream"]

#: Rejections kept verbatim in the summary (all are counted).
MAX_REPORTED = 1000


@dataclass
class ReplaySummary:
    """What a replay did: the figures ``driftline replay`` prints at the end."""

    events: int = 0
    invalid: int = 0
    predictions: int = 0
    labels: int = 0
    drift_events: int = 0
    labelled: int = 0
    counters: dict[str, Any] = field(default_factory=dict)
    suppressed: dict[str, int] = field(default_factory=dict)
    by_model_detector: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    rejections: list[tuple[int, str, str]] = field(default_factory=list)
    balanced: bool = True

    def render(self) -> str:
        c = self.counters
        lines = [
            f"events read:        {self.events}",
            f"  predictions:      {self.predictions}",
            f"  labels:           {self.labels}",
            f"  invalid lines:    {self.invalid}",
            f"processed:          {c.get('processed', 0)}",
            f"rejected:           {sum(c.get('rejected', {}).values())}",
        ]
        for reason, n in sorted(c.get("rejected", {}).items()):
            lines.append(f"  {reason}: {n}")
        lines += [
            f"joins:              {c.get('joined', 0)}",
            f"orphan labels:      {c.get('orphaned', 0)}",
            f"duplicates:         {c.get('duplicates', 0)}",
            f"predictions expired unlabelled: {c.get('expired', 0) + c.get('evicted', 0)}"
            f" (+{c.get('pending', 0)} still pending at end of input)",
            f"keys refused (cap): {c.get('keys_refused', 0)}",
            f"suppressed firings: warm-up {self.suppressed.get('warmup', 0)}, "
            f"cooldown {self.suppressed.get('cooldown', 0)}",
            f"drift events:       {self.drift_events}",
        ]
        for (model, detector, severity), n in sorted(self.by_model_detector.items()):
            lines.append(f"  {model} / {detector} / {severity}: {n}")
        lines.append(f"every line accounted for: {'yes' if self.balanced else 'NO'}")
        return "\n".join(lines)


def replay_stream(
    lines: Iterable[bytes],
    *,
    drift_out: IO[str],
    config: DetectionConfig | None = None,
    topic: str = "replay",
    labelled_out: IO[str] | None = None,
    clock: Clock = utc_now,
    on_invalid: Any = None,
    progress: Any = None,
    field_mapping: FieldMapping | None = None,
) -> ReplaySummary:
    """Replay JSONL ``lines``; write drift events (and optionally labelled records) as JSONL."""
    pipeline = Pipeline(config, clock=clock)
    decode = EventDecoder(field_mapping).decode
    summary = ReplaySummary()

    def emit(offset: int, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, DriftEvent):
                summary.drift_events += 1
                summary.by_model_detector[(output.model_id, output.detector, output.severity)] += 1
                drift_out.write(drift_event_json(output).decode() + "\n")
            elif isinstance(output, LabelledRecord):
                summary.labelled += 1
                if labelled_out is not None:
                    labelled_out.write(labelled_json(output).decode() + "\n")
            elif isinstance(output, Rejection):
                line = output.source.offset
                if output.stage in ("deserialize", "validate"):
                    summary.invalid += 1
                if len(summary.rejections) < MAX_REPORTED:
                    summary.rejections.append((line, output.reason, output.message))
                if on_invalid is not None:
                    on_invalid(line, output)

    for offset, raw in enumerate(lines):
        if progress is not None:
            progress(len(raw))
        raw = raw.rstrip(b"\r\n")
        summary.events += 1
        kind = _peek_type(raw)
        if kind == "prediction":
            summary.predictions += 1
        elif kind == "label":
            summary.labels += 1
        source = Source.model_construct(topic=topic, partition=0, offset=offset)
        event = decode(raw, topic)
        if isinstance(event, Refusal):
            emit(offset, pipeline.refuse(event, source, raw))
        else:
            emit(offset, pipeline.process(event, source, raw))
    emit(summary.events, pipeline.drain())
    summary.counters = pipeline.counters.as_dict()
    summary.suppressed = pipeline.suppressed()
    summary.balanced = pipeline.counters.balanced()
    return summary


_TYPE = re.compile(rb'"type"\s*:\s*"(prediction|label)"')


def _peek_type(raw: bytes) -> str | None:
    """The event type for the summary's counts (cheap; validation is the pipeline's job)."""
    match = _TYPE.search(raw)
    return match.group(1).decode() if match else None


def replay_file(
    input_path: str | Path,
    output_path: str | Path,
    *,
    config: DetectionConfig | None = None,
    labelled_path: str | Path | None = None,
    on_invalid: Any = None,
    show_progress: bool | None = None,
    clock: Clock = utc_now,
    field_mapping: FieldMapping | None = None,
) -> ReplaySummary:
    """Replay a JSONL file into a JSONL file of drift events, with a progress bar on long files.

    ``clock`` gives each drift event's ``published_at`` (wall-clock UTC by default).
    """
    from tqdm import tqdm

    input_path = Path(input_path)
    size = input_path.stat().st_size
    disable = (size < 5_000_000) if show_progress is None else not show_progress
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(input_path.open("rb"))
        drift_out = stack.enter_context(Path(output_path).open("w", encoding="utf-8"))
        bar = stack.enter_context(
            tqdm(total=size, unit="B", unit_scale=True, desc="replay", disable=disable)
        )
        labelled_out = None
        if labelled_path is not None:
            labelled_out = stack.enter_context(Path(labelled_path).open("w", encoding="utf-8"))
        return replay_stream(
            source,
            drift_out=drift_out,
            config=config,
            labelled_out=labelled_out,
            on_invalid=on_invalid,
            progress=bar.update if not disable else None,
            clock=clock,
            field_mapping=field_mapping,
        )
