"""``Pipeline.process_batch`` runs each key's operations per key (global decisions in record
order, then each key's run, then outputs merged by record index): the same outputs, indices,
``published_at`` stamps (a clock that moves at every call), counters and snapshots as one
record at a time, on random multi-key streams with everything the batch's first phase decides
happening mid-batch: duplicates, labels before their predictions, orphans expiring, keys refused
at ``max_tracked_keys``, idle keys retired, a label of the wrong type."""

from __future__ import annotations

import json
import math
import pickle
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, make_source
from detectors.data_quality import MissingRateSpec, TypeChangeSpec
from detectors.decoding import EventDecoder, Refusal
from detectors.feature_signals import FeatureSignalsConfig
from detectors.feature_watch import FeatureWatch
from detectors.joint_drift import JointDriftSpec
from detectors.pipeline import Pipeline
from detectors.running_clip import RunningClip
from detectors.shape_drift import ShapeDriftSpec

BASE_MS = 1_700_000_000_000
Record = tuple[Any, tuple[str, int, int], bytes]


def _stream(seed: int, n: int, regular: bool = False) -> list[dict[str, Any]]:
    """Predictions of 3 models x 2 versions x 2 segments (one regression model), features and
    error rates that shift, labels delayed (some before their prediction), duplicated, missing
    or of the wrong type, and rare jumps of event time past every TTL. ``regular``: every
    prediction has a score and both numeric features (the key's runs are fed by column)."""
    rng = random.Random(seed)
    timeline: list[tuple[float, int, dict[str, Any]]] = []
    t = 0.0
    for i in range(n):
        t += rng.expovariate(1.0) * 100  # ms
        if rng.random() < 0.003:
            t += 70_000  # past the TTLs below: orphans expire, idle keys retire
        model = rng.choice(["fraud", "churn", "price"])
        shifted = (4 * i // n) % 2 == 1  # regimes flip every quarter
        features: dict[str, Any] = {"amount": rng.gauss(4.0 if shifted else 0.0, 1.0),
                                    "country": rng.choice(["FR", "DE"] if not shifted else ["US"])}
        if regular:
            del features["country"]  # numeric features only (a categorical one has no runs)
        elif rng.random() < 0.2:
            del features["amount"]
        elif rng.random() < 0.05:
            features["amount"] = "n/a"
        if regular or rng.random() < 0.7:
            features["count"] = rng.randint(0, 3 if not shifted else 9)
        if model == "price":
            truth = rng.gauss(10, 2)
            prediction: Any = truth + rng.gauss(0, 4 if shifted else 1)
            label: Any = truth if rng.random() > 0.02 else "oops"
        else:
            label = rng.random() < 0.5
            prediction = (not label) if rng.random() < (0.5 if shifted else 0.1) else label
        event: dict[str, Any] = {
            "type": "prediction", "prediction_id": f"p{rng.randrange(n + n // 20)}",
            "model_id": model, "model_version": "v2" if rng.random() < 0.1 else "v1",
            "timestamp": BASE_MS + int(t), "features": features, "prediction": prediction,
        }
        if regular or rng.random() < 0.9:
            event["score"] = rng.random() * (0.4 if shifted else 1.0)
        if rng.random() < 0.15:
            event["segment"] = "eu"
        timeline.append((t, len(timeline), event))
        if rng.random() < 0.1:
            continue  # no label
        if rng.random() < 0.03:  # a label whose prediction never comes: an orphan
            timeline.append((t, len(timeline), {
                "type": "label", "prediction_id": f"x{i}", "model_id": model,
                "timestamp": BASE_MS + int(t), "label": label}))
        for _ in range(2 if rng.random() < 0.05 else 1):
            at = max(t + rng.uniform(-500, 3000), 0.0)
            timeline.append((at, len(timeline), {
                "type": "label", "prediction_id": event["prediction_id"], "model_id": model,
                "timestamp": BASE_MS + int(at), "label": label}))
    timeline.sort(key=lambda item: (item[0], item[1]))
    return [e for _, _, e in timeline]


def _records(events: list[dict[str, Any]]) -> list[Record]:
    decode = EventDecoder().decode
    out = []
    for offset, e in enumerate(events):
        raw = json.dumps(e).encode()
        event = decode(raw, "t")
        if not isinstance(event, Refusal):
            out.append((event, ("t", 0, offset), raw))
    return out


def _config(max_keys: int, regular: bool = False) -> DetectionConfig:
    """Sensitive detectors (so they fire in a few hundred samples), a feature watched by two
    River detectors (not a lone ADWIN; ``regular``: one), short TTLs, a key cap."""
    count = [{"type": "adwin", "delta": 0.05}]
    if not regular:
        count.append({"type": "page_hinkley", "threshold": 5})
    windows = {"reference_size": 30, "window_size": 20, "stride": 10}
    return DetectionConfig.model_validate({
        "warmup_samples": 5, "cooldown_samples": 20, "max_tracked_keys": max_keys,
        "join_ttl_s": 40.0, "label_wait_ttl_s": 20.0, "idle_key_ttl_s": 60.0,
        "metric_window": 50, "metric_thresholds": {"accuracy": 0.8},
        "signals": {
            "score": [{"type": "adwin", "delta": 0.05}],
            "feature": [{"type": "adwin", "delta": 0.05}],
            "feature:count": count,
            "error": [{"type": "adwin", "delta": 0.05}, {"type": "ddm"}],
            "residual": [{"type": "adwin", "delta": 0.05}],
        },
        # Small windows: the feature watch's runs (and their stretches) start within a batch.
        "feature_signals": {
            "numeric": [{"type": "shape_drift", **windows}, {"type": "missing_rate"},
                        {"type": "type_change"}],
            "categorical": [{"type": "category_drift", **windows}, {"type": "new_category"},
                            {"type": "missing_rate"}, {"type": "type_change"}],
            "joint": {"sample_every": 2, "reference_size": 40, "window_size": 20},
        },
    })


def _ticking_clock() -> Callable[[], datetime]:
    """A clock that moves one second at every call (so the order of calls shows)."""
    calls = [0]

    def clock() -> datetime:
        calls[0] += 1
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=calls[0])
    return clock


def _state(pipeline: Pipeline) -> tuple[Any, ...]:
    snapshots = {m: pipeline.snapshot_model(m) for m in sorted(pipeline.model_ids())}
    return (pipeline.counters.as_dict(), pipeline.suppressed(), sorted(pipeline.keys(), key=str),
            pipeline.watermark, snapshots)


def _one_by_one(records: list[Record], config: DetectionConfig) -> tuple[list[Any], Pipeline]:
    pipeline = Pipeline(config, clock=_ticking_clock())
    out: list[tuple[int, Any]] = []
    for i, (event, where, raw) in enumerate(records):
        out.extend((i, o) for o in pipeline.process(event, make_source(*where), raw))
    return out, pipeline


def _batched(records: list[Record], config: DetectionConfig,
             sizes: list[int]) -> tuple[list[Any], Pipeline]:
    pipeline = Pipeline(config, clock=_ticking_clock())
    out: list[tuple[int, Any]] = []
    start = 0
    k = 0
    while start < len(records):
        size = sizes[k % len(sizes)]
        k += 1
        out.extend((start + i, o) for i, o in pipeline.process_batch(records[start:start + size]))
        start += size
    return out, pipeline


@pytest.mark.parametrize("regular", [False, True])
def test_the_streams_reach_every_decision_of_the_first_phase(regular: bool) -> None:
    """The generator makes what the property below needs to mean anything (one fixed seed)."""
    records = _records(_stream(7, 1500, regular))
    out, pipeline = _batched(records, _config(9, regular), [1000])
    c = pipeline.counters
    assert c.keys_refused > 0 and c.keys_retired > 0
    assert c.duplicates > 0 and c.expired + c.orphaned > 0 and c.joined > 0
    assert "process:LabelTypeMismatch" in c.rejected
    assert sum(1 for _, o in out if isinstance(o, DriftEvent)) >= 10
    keys_with_events = {(o.model_id, o.model_version, o.segment) for _, o in out
                        if isinstance(o, DriftEvent)}
    assert len(keys_with_events) >= 3
    batch_indices = [i for i, _ in out]
    assert batch_indices == sorted(batch_indices)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), n=st.integers(200, 900), max_keys=st.integers(2, 14),
       sizes=st.lists(st.sampled_from([1, 2, 3, 17, 100, 400, 5000]), min_size=1, max_size=6),
       regular=st.booleans())
def test_per_key_batches_equal_one_record_at_a_time(seed: int, n: int, max_keys: int,
                                                     sizes: list[int], regular: bool) -> None:
    records = _records(_stream(seed, n, regular))
    config = _config(max_keys, regular)
    expected, one = _one_by_one(records, config)
    got, batched = _batched(records, config, sizes)
    assert got == expected
    assert _state(batched) == _state(one)


# -- the feature watch's stretches against observe_features row by row ----------------------------

def _watch_config() -> FeatureSignalsConfig:
    window = {"reference_size": 30, "window_size": 20, "false_alarms_per_100k": 5000}
    quality = [MissingRateSpec(**window), TypeChangeSpec(**window)]
    return FeatureSignalsConfig(
        numeric=[ShapeDriftSpec(stride=7, bins=4, **window), *quality],
        joint=JointDriftSpec(sample_every=2, **window), cbpe=None)


def _numeric_row(rng: random.Random, rho: float, odd: float) -> dict[str, Any]:
    a = rng.gauss(0, 1)
    row: dict[str, Any] = {"a": a, "b": rho * a + rng.gauss(0, 0.3), "c": rng.randint(0, 4)}
    if rng.random() < odd:  # a row of another shape: fed one by one
        row[rng.choice(["a", "b", "c"])] = rng.choice([None, math.nan, "x", True, 1e6])
    return row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(0, 1500), odd=st.sampled_from([0.0, 0.01, 0.2]),
       cuts=st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_feature_watch_rows_are_observe_features_row_by_row(seed: int, n: int, odd: float,
                                                            cuts: list[int]) -> None:
    rng = random.Random(seed)
    rows = [_numeric_row(rng, 0.9 if i < n // 2 else -0.9, odd) for i in range(n)]
    by_row = FeatureWatch(_watch_config(), warmup=0, cooldown=0)
    by_rows = FeatureWatch(_watch_config(), warmup=0, cooldown=0)

    def log(fired: list[Any] | None, i: int) -> list[Any]:
        return [(i, w.signal, w.label, repr(w.detector.evidence()), w.detector.change_lag)
                for w in fired or ()]

    expected: list[Any] = []
    for i, row in enumerate(rows):
        expected += log(by_row.observe_features(row), i)
    got: list[Any] = []
    start = 0
    k = 0
    while start < n:  # the monitor's runs: a batch's rows, resumed after each firing
        end = min(n, start + cuts[k % len(cuts)])
        k += 1
        j = start
        while j < end:
            j, fired = by_rows.observe_rows(rows[start:end], j - start)
            j += start
            got += log(fired, j)
            j += 1
        start = end
    assert got == expected
    assert pickle.dumps(by_rows) == pickle.dumps(by_row)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32), cuts=st.lists(st.integers(1, 400), min_size=1, max_size=12),
       restarts=st.sets(st.integers(0, 1500), max_size=4))
def test_clip_run_is_clip_per_value(seed: int, cuts: list[int], restarts: set[int]) -> None:
    """What a column feeds a feature's ADWIN between its checks: the same values and state."""
    rng = random.Random(seed)
    values = [rng.choice([rng.gauss(0, 1), rng.gauss(0, 1), 50.0, -80.0, math.nan, 3])
              for _ in range(1500)]
    one, runs = RunningClip(), RunningClip()
    expected = [one.clip(x) for x in values[:0]]
    got: list[float] = []
    start = k = 0
    while start < len(values):
        end = min(len(values), start + cuts[k % len(cuts)])
        k += 1
        for x in values[start:end]:
            expected.append(one.clip(x))
        got += runs.clip_run(values[start:end])
        if start in restarts:
            one.restart(kept=7)
            runs.restart(kept=7)
        start = end
    assert repr(got) == repr(expected)
    assert pickle.dumps(runs) == pickle.dumps(one)


def test_firings_of_several_columns_in_one_run_keep_the_per_record_order() -> None:
    """One key, one batch: the score and both features shift together, so several lone ADWINs
    (and the feature watch) fire within one run, at different and at equal positions."""
    rng = random.Random(5)
    events = []
    for i in range(1200):
        shift = 3.0 if 400 <= i < 800 else 0.0
        events.append({
            "type": "prediction", "prediction_id": f"p{i}", "model_id": "m",
            "model_version": "v1", "timestamp": BASE_MS + 100 * i, "prediction": True,
            "score": min(1.0, max(0.0, rng.gauss(0.3 + shift / 6, 0.1))),
            "features": {"a": rng.gauss(shift, 1.0), "b": rng.randint(0, 3) + int(shift)}})
    records = _records(events)
    config = _config(10, regular=True)
    expected, one = _one_by_one(records, config)
    got, batched = _batched(records, config, [5, 1195])  # the first makes the key's detectors
    fired = [(i, o.signal, o.detector) for i, o in expected if isinstance(o, DriftEvent)]
    assert len({signal for _, signal, _ in fired}) >= 3  # several columns fired in the run
    assert got == expected
    assert _state(batched) == _state(one)
