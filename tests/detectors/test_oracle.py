"""Oracle: the pipeline's drift events equal a plain River loop per key, position for position.

The oracle below shares no code with ``detectors/``: it joins labels with a naive dict, builds
each key's value sequence per signal, runs River's detectors directly, and applies the lifecycle
rules written in :mod:`detectors.lifecycle` (warm-up, cooldown, warning rising edges).

A feature's ADWIN reads each value clipped at the running mean ± 6 sd of the values before it
(after 100 of them; restarted when it fires, :mod:`detectors.running_clip`): the oracle clips
the same way (:class:`Clip`, written here again), and the streams carry a heavy-tailed feature
``spend`` so that the clip does change some of the values fed.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from river import drift
from river.drift import binary

from detectors import DetectionConfig, DriftEvent, Pipeline, Source, drift_event_id
from tests.detectors.detection_streams import random_stream

SIGNALS: dict[str, list[dict[str, Any]]] = {
    "error": [
        {"type": "ddm"},
        {"type": "adwin"},
        {"type": "hddm_a"},
        {"type": "eddm"},
    ],
    "residual": [{"type": "adwin"}, {"type": "page_hinkley", "threshold": 20}],
    "score": [{"type": "adwin", "delta": 0.01}, {"type": "page_hinkley", "threshold": 5}],
    "feature": [{"type": "adwin"}, {"type": "page_hinkley", "threshold": 10}],
    "feature:count": [{"type": "kswin", "window_size": 60, "stat_size": 20, "seed": 3}],
}

RIVER = {
    "adwin": drift.ADWIN,
    "page_hinkley": drift.PageHinkley,
    "kswin": drift.KSWIN,
    "ddm": binary.DDM,
    "eddm": binary.EDDM,
    "hddm_a": binary.HDDMA,
}


class Clip:
    """The clip's rule, restated: Welford's mean/variance of the unclipped values, ± 6 sd."""

    def __init__(self) -> None:
        self.n, self.mean, self.m2, self.clipped = 0, 0.0, 0.0, 0

    def __call__(self, x: float) -> float:
        out = x
        if self.n >= 100:
            half = 6.0 * math.sqrt(self.m2 / (self.n - 1))
            out = min(max(x, self.mean - half), self.mean + half)
            self.clipped += out != x
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)
        return out

    def restart(self) -> None:
        self.n, self.mean, self.m2 = 0, 0.0, 0.0


def heavy_tailed(events: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """``events`` with a lognormal feature ``spend`` on every prediction (a few are clipped)."""
    rng = random.Random(seed)
    for e in events:
        if e["type"] == "prediction":
            e["features"]["spend"] = rng.lognormvariate(0.0, 1.5)
    return events


def oracle_sequences(events: list[dict[str, Any]]) -> dict[tuple, list[tuple[float, int]]]:
    """(model, version, segment, signal) → [(value, source offset)] in pipeline feed order."""
    sequences: dict[tuple, list[tuple[float, int]]] = {}
    predictions: dict[tuple[str, str], dict[str, Any]] = {}
    joined: set[tuple[str, str]] = set()
    waiting: dict[tuple[str, str], int] = {}

    def feed_label(p: dict[str, Any], label: Any, offset: int) -> None:
        key = (p["model_id"], p["model_version"], p.get("segment"))
        if isinstance(p["prediction"], float):
            sequences.setdefault((*key, "residual"), []).append(
                (abs(p["prediction"] - label), offset)
            )
        else:
            sequences.setdefault((*key, "error"), []).append(
                (0 if p["prediction"] == label else 1, offset)
            )

    labels_by_offset = {}
    for offset, e in enumerate(events):
        jk = (e["model_id"], e["prediction_id"])
        if e["type"] == "prediction":
            if jk in predictions:
                continue
            predictions[jk] = e
            key = (e["model_id"], e["model_version"], e.get("segment"))
            sequences.setdefault((*key, "score"), []).append((e["score"], offset))
            for name, value in e["features"].items():
                if type(value) in (int, float):
                    sequences.setdefault((*key, "feature:" + name), []).append((value, offset))
            if jk in waiting:
                label_offset = waiting.pop(jk)
                joined.add(jk)
                feed_label(e, labels_by_offset[label_offset], label_offset)
        else:
            if jk in joined or jk in waiting:
                continue
            if jk in predictions:
                joined.add(jk)
                feed_label(predictions[jk], e["label"], offset)
            else:
                waiting[jk] = offset
                labels_by_offset[offset] = e["label"]
    return sequences


def oracle_events(
    events: list[dict[str, Any]], warmup: int, cooldown: int, clips: list[Clip] | None = None
) -> list[tuple[Any, ...]]:
    """The published events; each feature ADWIN's :class:`Clip` is appended to ``clips``."""
    expected = []
    for (model, version, segment, signal), values in oracle_sequences(events).items():
        specs = (
            SIGNALS.get(signal) or SIGNALS["feature" if signal.startswith("feature:") else signal]
        )
        for spec in specs:
            params = {k: v for k, v in spec.items() if k != "type"}
            detector = RIVER[spec["type"]](**params)
            clip = Clip() if spec["type"] == "adwin" and signal.startswith("feature:") else None
            if clip is not None and clips is not None:
                clips.append(clip)
            quiet = warn_quiet = warmup
            in_warning = False
            reset_at = 0
            for n, (value, offset) in enumerate(values, start=1):
                detector.update(value if clip is None else clip(value))
                warning = getattr(detector, "warning_detected", False)
                if detector.drift_detected:
                    if clip is not None:
                        clip.restart()
                    in_warning = warning
                    samples, reset_at = n - reset_at, n
                    if n > quiet:
                        quiet = warn_quiet = n + cooldown
                        expected.append(
                            (
                                model,
                                version,
                                segment,
                                signal,
                                spec["type"],
                                "drift",
                                offset,
                                samples,
                            )
                        )
                elif warning != in_warning:
                    in_warning = warning
                    if warning and n > warn_quiet:
                        warn_quiet = n + cooldown
                        expected.append(
                            (
                                model,
                                version,
                                segment,
                                signal,
                                spec["type"],
                                "warning",
                                offset,
                                n - reset_at,
                            )
                        )
    return expected


def pipeline_events(events: list[dict[str, Any]], config: DetectionConfig) -> list[DriftEvent]:
    import json

    pipeline = Pipeline(config)
    out = []
    for offset, e in enumerate(events):
        source = Source(topic="replay", partition=0, offset=offset)
        out.extend(pipeline.process_raw(json.dumps(e).encode(), source))
    assert pipeline.counters.balanced()
    return [o for o in out if isinstance(o, DriftEvent)]


def as_tuple(e: DriftEvent) -> tuple[Any, ...]:
    return (
        e.model_id,
        e.model_version,
        e.segment,
        e.signal,
        e.detector,
        e.severity,
        e.source.offset,
        e.samples_seen,
    )


def by_detector(rows: Any) -> dict[tuple[Any, ...], list[tuple[Any, ...]]]:
    """Group by (key, signal, detector), keeping each group's order: position for position."""
    groups: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in rows:
        groups.setdefault(row[:5], []).append(row[5:])
    return groups


def config(warmup: int, cooldown: int) -> DetectionConfig:
    return DetectionConfig.model_validate(
        {
            "signals": SIGNALS,
            "metric_thresholds": {},
            "warmup_samples": warmup,
            "cooldown_samples": cooldown,
        }
    )


@pytest.mark.parametrize(
    ("seed", "warmup", "cooldown"), [(1, 0, 0), (2, 0, 0), (3, 50, 200), (4, 100, 500)]
)
def test_pipeline_equals_plain_river_loop(seed: int, warmup: int, cooldown: int) -> None:
    events = heavy_tailed(random_stream(seed, n_predictions=2500), seed)
    got = pipeline_events(events, config(warmup, cooldown))
    clips: list[Clip] = []
    expected = oracle_events(events, warmup, cooldown, clips)
    assert len(expected) > 20  # the stream does make detectors fire
    assert sum(c.clipped for c in clips) > 0  # and the clip does change values
    assert by_detector(map(as_tuple, got)) == by_detector(expected)
    for e in got:  # ids are the documented deterministic function of the event
        assert e.event_id == drift_event_id(
            model_id=e.model_id,
            model_version=e.model_version,
            segment=e.segment,
            signal=e.signal,
            detector=e.detector,
            severity=e.severity,
            source=e.source,
        )


#: One detector per signal: score and features are each watched by a lone ADWIN, the path on
#: which the monitor calls River's ADWIN window directly (see KeyMonitor.observe_prediction).
SOLO_ADWIN: dict[str, list[dict[str, Any]]] = {
    "error": [{"type": "ddm"}],
    "residual": [{"type": "adwin"}],
    "score": [{"type": "adwin", "delta": 0.01}],
    "feature": [{"type": "adwin", "delta": 0.05, "clock": 4}],
}


@pytest.mark.parametrize("seed", [5, 6, 7])
def test_lone_adwin_state_equals_river_after_every_batch(seed: int) -> None:
    """After every batch of a random split (sizes 1 to 400), every prediction-fed ADWIN's drift
    flag, width, total and variance equal those of River's ADWIN fed the oracle's sequence
    (a feature's values clipped by the oracle's :class:`Clip`)."""
    import json
    import random

    from detectors.decoding import EventDecoder, Refusal

    events = heavy_tailed(random_stream(seed, n_predictions=1500), seed)
    cfg = DetectionConfig.model_validate(
        {"signals": SOLO_ADWIN, "metric_thresholds": {}, "warmup_samples": 0,
         "cooldown_samples": 0})
    sequences = {k: v for k, v in oracle_sequences(events).items()
                 if k[3] == "score" or k[3].startswith("feature:")}
    references = {}
    clips = {k: Clip() for k in sequences if k[3] != "score"}
    for k in sequences:
        spec = SOLO_ADWIN["score" if k[3] == "score" else "feature"][0]
        references[k] = drift.ADWIN(**{p: v for p, v in spec.items() if p != "type"})
    fed = dict.fromkeys(sequences, 0)
    decode = EventDecoder().decode
    records = []
    for offset, e in enumerate(events):
        event = decode(json.dumps(e).encode(), "t")
        assert not isinstance(event, Refusal)
        records.append((event, ("t", 0, offset), None))
    pipeline = Pipeline(cfg)
    rng = random.Random(seed)
    start = checks = fired = 0
    while start < len(records):
        end = min(len(records), start + rng.choice([1, 1, 2, 5, 30, 400]))
        pipeline.process_batch(records[start:end])
        for k, values in sequences.items():
            reference = references[k]
            clip = clips.get(k)
            while fed[k] < len(values) and values[fed[k]][1] < end:
                value = values[fed[k]][0]
                reference.update(value if clip is None else clip(value))
                if reference.drift_detected:
                    fired += 1
                    if clip is not None:
                        clip.restart()
                fed[k] += 1
            if not fed[k]:
                continue
            monitor = pipeline.monitor(k[0], k[1], k[2])
            assert monitor is not None
            group = monitor.score if k[3] == "score" else monitor.features[k[3][8:]]
            got = group[0].detector
            assert (got.drift_detected, got.width, got.total, got.variance) == (
                reference.drift_detected, reference.width, reference.total, reference.variance
            ), (k, fed[k])
            checks += 1
        start = end
    assert checks > 300 and fired > 5
    assert sum(c.clipped for c in clips.values()) > 0
