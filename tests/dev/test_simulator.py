"""The simulator's contract: deterministic per seed, event-time order, label delay and coverage,
and each drift kind moving the signal it claims to move."""

from __future__ import annotations

import itertools
import statistics

import pytest

from detectors.contracts import Label, Prediction
from driftline.dev.simulator import DRIFT_KINDS, Drift, Scenario, simulate


def _ms(event: Prediction | Label) -> int:
    return round(event.timestamp.timestamp() * 1000)


def test_same_seed_same_events_other_seed_other_events() -> None:
    scenario = Scenario(
        models=("a", "b"),
        samples=300,
        drifts=(Drift("gradual", start=100, width=100, concept_rotation=90),),
    )
    first = [e.model_dump_json() for e in simulate(scenario, seed=3)]
    assert first == [e.model_dump_json() for e in simulate(scenario, seed=3)]
    assert first != [e.model_dump_json() for e in simulate(scenario, seed=4)]


def test_events_are_in_event_time_order_with_labels_delayed() -> None:
    scenario = Scenario(
        models=("a", "b", "c"),
        samples=500,
        rate=20,
        label_delay_ms=1500,
        label_delay_jitter_ms=500,
        label_coverage=0.6,
    )
    events = list(simulate(scenario, seed=1))
    times = [_ms(e) for e in events]
    assert times == sorted(times)
    predicted_at = {e.prediction_id: _ms(e) for e in events if isinstance(e, Prediction)}
    assert len(predicted_at) == 3 * 500
    seen: set[str] = set()
    delays = []
    for event in events:
        if isinstance(event, Prediction):
            seen.add(event.prediction_id)
        else:
            assert event.prediction_id in seen, "a label came before its prediction"
            delays.append(_ms(event) - predicted_at[event.prediction_id])
    assert min(delays) >= 1500 and max(delays) <= 2000
    assert 0.55 < len(delays) / 1500 < 0.65
    # each model's predictions are spaced by 1000 / rate ms
    a_times = [_ms(e) for e in events if isinstance(e, Prediction) and e.model_id == "a"]
    assert {b - a for a, b in itertools.pairwise(a_times)} == {50}


def _window_stats(drift: Drift, samples: int = 6000) -> dict[str, list[float]]:
    """Per 500-sample window: error rate, mean f0, mean score."""
    scenario = Scenario(samples=samples, drifts=(drift,), label_delay_ms=0)
    predictions: dict[str, Prediction] = {}
    windows: dict[str, list[list[float]]] = {
        k: [[] for _ in range(samples // 500)] for k in ("error", "f0", "score")
    }
    for event in simulate(scenario, seed=11):
        index = int(event.prediction_id.rsplit("-", 1)[1]) // 500
        if isinstance(event, Prediction):
            predictions[event.prediction_id] = event
            windows["f0"][index].append(float(event.features["f0"] or 0.0))
            windows["score"][index].append(event.score or 0.0)
        else:
            windows["error"][index].append(
                float(predictions[event.prediction_id].prediction != event.label)
            )
    return {k: [statistics.fmean(w) for w in v] for k, v in windows.items()}


@pytest.mark.parametrize(
    ("drift", "signal", "expected_shape"),
    [
        (Drift("sudden", start=3000, concept_rotation=90), "error", "step"),
        (Drift("gradual", start=2000, width=2000, concept_rotation=90), "error", "ramp"),
        (Drift("incremental", start=2000, width=2000, feature_shift=3), "f0", "ramp"),
        (Drift("recurrent", start=2000, width=2000, score_shift=3), "score", "bump"),
        (Drift("seasonal", start=0, width=3000, feature_shift=3), "f0", "cycle"),
    ],
    ids=DRIFT_KINDS,
)
def test_each_kind_moves_its_signal(drift: Drift, signal: str, expected_shape: str) -> None:
    values = _window_stats(drift)[signal]
    low, high = min(values), max(values)
    assert high - low > 0.25, values
    before = values[0]
    if expected_shape == "step":
        assert all(abs(v - before) < 0.05 for v in values[:6]) and all(
            v > before + 0.3 for v in values[6:]
        )
    elif expected_shape == "ramp":
        middle = values[5]  # samples 2500-3000: inside the transition
        assert before < middle < values[-1] and values[-1] - middle > 0.1
    elif expected_shape == "bump":
        assert values[5] > before + 0.2 and abs(values[-1] - before) < 0.05
    else:  # two full cycles of 3000 samples: high at 1500 and 4500, low at 0, 3000, 6000
        assert values[2] > before + 2 and values[5] < before + 0.5 and values[8] > before + 2


def test_invalid_scenarios_are_refused_with_the_field_named() -> None:
    with pytest.raises(ValueError, match="label_coverage"):
        Scenario(label_coverage=1.5)
    with pytest.raises(ValueError, match="must move something"):
        Drift("sudden", start=10)
    with pytest.raises(ValueError, match="unknown features"):
        Scenario(drifts=(Drift("sudden", start=1, feature_shift=1, shifted_features=("amount",)),))
