"""Each of the simulator's five drift types, applied to features, scores or the label relation,
is caught by Driftline's DEFAULT detection configuration, with no drift event before it starts.

The detection delay is measured in predictions of the model issued since the drift began (it
includes the label delay for label-based signals) and printed for every case, e.g.::

    [drift] sudden      labels   first: error/ddm after 88 samples; all: error/ddm@88, ...

Cases are deterministic (seeded); each runs in well under a second.
"""

from __future__ import annotations

import pytest

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, Source
from detectors.pipeline import Pipeline
from driftline.dev.simulator import DRIFT_KINDS, Drift, Scenario, simulate

pytestmark = pytest.mark.slow

START = 2000  # the drift begins at this sample of the model; before it the stream is stationary
SAMPLES = 5000
RATE = 10.0  # predictions per second of event time
LABEL_DELAY_MS = 2000  # = 20 samples

#: kind → (drift timing, detection must come within this many samples of the start)
TIMING: dict[str, tuple[dict[str, int], int]] = {
    "sudden": ({}, 500),
    "gradual": ({"width": 1000}, 1500),  # old and new concepts mix for 1000 samples
    "incremental": ({"width": 2000}, 2000),  # a ramp over 2000 samples
    "recurrent": ({"width": 1000}, 1000),  # must be seen before the old concept returns
    "seasonal": ({"width": 2000}, 1000),  # period 2000: within the first half-cycle
}

#: what moves → the drift's effect
EFFECTS: dict[str, dict[str, float]] = {
    "features": {"feature_shift": 3.0},  # f0's mean moves by 3 standard deviations
    "scores": {"score_shift": 2.0},  # the model's logit gains +2
    "labels": {"concept_rotation": 90.0},  # the true boundary turns by 90°: error 10% → 50%
}


def _first_drifts(kind: str, target: str) -> tuple[list[DriftEvent], list[tuple[str, int]]]:
    timing, _ = TIMING[kind]
    drift = Drift(kind=kind, start=START, **timing, **EFFECTS[target])  # type: ignore[arg-type]
    scenario = Scenario(samples=SAMPLES, rate=RATE, label_delay_ms=LABEL_DELAY_MS, drifts=(drift,))
    pipeline = Pipeline(DetectionConfig())
    drift_events: list[DriftEvent] = []
    for offset, event in enumerate(simulate(scenario, seed=0)):
        for output in pipeline.process(event, Source(topic="simulated", partition=0, offset=offset)):
            if isinstance(output, DriftEvent) and output.severity == "drift":
                drift_events.append(output)
    start_ms = scenario.timestamp_ms(START)
    delays = [
        (f"{e.signal}/{e.detector}", round((e.detected_at.timestamp() * 1000 - start_ms) * RATE / 1000))
        for e in drift_events
    ]
    return drift_events, delays


@pytest.mark.parametrize("target", list(EFFECTS))
@pytest.mark.parametrize("kind", DRIFT_KINDS)
def test_default_detectors_catch_each_drift_type(
    kind: str, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, within = TIMING[kind]
    _, delays = _first_drifts(kind, target)
    false_alarms = [d for d in delays if d[1] < 0]
    after = [d for d in delays if d[1] >= 0]
    with capsys.disabled():
        first = f"{after[0][0]} after {after[0][1]} samples" if after else "NOT DETECTED"
        print(f"\n[drift] {kind:<11} {target:<8} first: {first}; all: "
              + ", ".join(f"{name}@{delay}" for name, delay in delays))
    assert not false_alarms, f"drift events before the drift started: {false_alarms}"
    assert after, f"{kind} drift of the {target} was not detected by the default detectors"
    assert after[0][1] <= within, f"{kind} drift of the {target} detected too late: {after[0]}"
