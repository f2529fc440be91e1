"""Every feature watched through the pipeline: categories, quality, joint, CBPE, snapshots, config."""

from __future__ import annotations

import json
import math
import random
from typing import Any

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, Prediction, Source
from detectors.feature_signals import FeatureSignalsConfig
from detectors.monitor import KeyMonitor
from detectors.pipeline import Pipeline

BASE_MS = 1_714_564_800_000


def readme_prediction(i: int, rng: random.Random, **changes: Any) -> dict[str, Any]:
    """The README's example prediction, numbered ``i`` (amount and score drawn from ``rng``)."""
    event: dict[str, Any] = {
        "type": "prediction", "prediction_id": f"p-{i}", "model_id": "fraud",
        "model_version": "v3", "timestamp": BASE_MS + 1000 * i,
        "features": {"amount": round(rng.lognormvariate(2.5, 0.5), 2), "country": "DE"},
        "prediction": 1, "score": 0.82, "segment": "eu",
    }
    for name, value in changes.items():
        event["features"][name] = value
    return event


def run(events: list[dict[str, Any]], config: DetectionConfig | None = None) -> list[DriftEvent]:
    pipeline = Pipeline(config or DetectionConfig())
    out: list[DriftEvent] = []
    for offset, event in enumerate(events):
        raw = json.dumps(event).encode()
        for item in pipeline.process_raw(raw, Source(topic="t", partition=0, offset=offset)):
            if isinstance(item, DriftEvent):
                out.append(item)
    return out


def test_readme_country_switching_from_de_to_us_raises_categorical_drift_naming_both():
    rng = random.Random(1)
    events = [readme_prediction(i, rng, country="DE" if i < 2000 else "US") for i in range(3000)]
    found = run(events)
    country = [e for e in found if e.signal == "feature:country"]
    assert [(e.detector, e.kind) for e in country] == [
        ("new_category", "data"), ("category_drift", "data")]
    new, moved = country
    assert new.source.offset < 2100 and moved.source.offset < 2100
    assert new.stats["new_category_1"] == "US"
    assert moved.stats["category_1"] in ("DE", "(other)")
    names = {moved.stats["category_1"], moved.stats["category_2"]}
    assert names == {"DE", "(other)"}
    assert moved.stats["other_category_1"] == "US"
    de = 1 if moved.stats["category_1"] == "DE" else 2
    assert moved.stats[f"reference_share_{de}"] == 1.0
    assert moved.stats[f"recent_share_{de}"] < 0.95
    for event in country:  # the CUSUM date of the switch, rounded up to the trail (<= 15 late)
        assert event.change_point is not None and event.change_point.estimator == "window_cusum"
        assert event.change_point.source is not None
        assert 1990 <= event.change_point.source.offset <= 2016, event.change_point
    # nothing else moved: the amount, the score and the prediction are stationary
    assert {e.signal for e in found} == {"feature:country"}


def test_categories_moving_between_known_names_are_named_with_their_shares():
    rng = random.Random(2)
    def country(i: int) -> str:
        weights = [60, 30, 10] if i < 2500 else [40, 30, 30]
        return rng.choices(["DE", "FR", "US"], weights=weights)[0]
    found = run([readme_prediction(i, rng, country=country(i)) for i in range(4000)])
    [event] = [e for e in found if e.detector == "category_drift"]
    assert 2500 < event.source.offset < 3500
    assert event.stats["category_1"] == "US"  # the largest move: 10% -> 30%
    assert event.stats["recent_share_1"] > event.stats["reference_share_1"] + 0.05
    assert {event.stats[f"category_{r}"] for r in (1, 2, 3)} == {"DE", "FR", "US"}
    assert event.stats["p_value"] < 1e-4


def test_missing_values_and_type_changes_are_quality_events():
    rng = random.Random(3)
    events = []
    for i in range(4000):
        e = readme_prediction(i, rng)
        if i >= 2000 and i % 5 == 0:
            del e["features"]["amount"]  # a broken upstream join
        if i >= 2000 and i % 4 == 1:
            e["features"]["country"] = 49  # a schema change: numbers where names were
        events.append(e)
    found = run(events)
    quality = {(e.signal, e.detector): e for e in found if e.kind == "quality"}
    assert set(quality) == {("feature:amount", "missing_rate"), ("feature:country", "type_change")}
    assert quality[("feature:country", "type_change")].stats["observed_type_1"] == "number"
    assert quality[("feature:amount", "missing_rate")].stats["recent_rate"] > 0.02
    assert all(e.source.offset < 2400 for e in quality.values())
    # the amount's missing values are not drift of its values
    assert not [e for e in found if e.signal == "feature:amount" and e.kind == "data"]


def test_correlation_flip_raises_the_joint_signal_only():
    rng = random.Random(4)
    events = []
    for i in range(7000):
        a, noise = rng.gauss(0, 1), rng.gauss(0, 1)
        rho = 0.8 if i < 5000 else -0.8
        b = rho * a + math.sqrt(1 - rho * rho) * noise
        e = readme_prediction(i, rng)
        e["features"] = {"a": a, "b": b, "c": rng.gauss(0, 1)}
        events.append(e)
    found = run(events)
    assert [(e.signal, e.detector, e.kind) for e in found] == [("joint", "joint_drift", "data")]
    assert 5000 < found[0].source.offset < 6000  # one row in 4 is read
    point = found[0].change_point
    assert point is not None and point.source is not None
    assert 4600 <= point.source.offset <= 5300, point  # ±100 read rows: 1 in 4
    assert {found[0].stats["feature_1"], found[0].stats["feature_2"]} == {"a", "b"}


def cbpe_events(labels: bool) -> tuple[list[DriftEvent], Pipeline]:
    """A calibrated binary classifier whose inputs move toward its decision boundary at 3000."""
    rng = random.Random(5)
    pipeline = Pipeline(DetectionConfig(metric_thresholds={}))
    found = []
    offset = 0
    for i in range(6000):
        x = rng.gauss(0, 2.0 if i < 3000 else 0.4)
        p = 1 / (1 + math.exp(-3 * x))
        event = {"type": "prediction", "prediction_id": f"p{i}", "model_id": "m",
                 "model_version": "v1", "timestamp": BASE_MS + i, "features": {},
                 "prediction": p >= 0.5, "score": p}
        lines = [event]
        if labels:
            lines.append({"type": "label", "prediction_id": f"p{i}", "model_id": "m",
                          "timestamp": BASE_MS + i + 1, "label": rng.random() < p})
        for line in lines:
            raw = json.dumps(line).encode()
            for out in pipeline.process_raw(raw, Source(topic="t", partition=0, offset=offset)):
                if isinstance(out, DriftEvent):
                    found.append(out)
            offset += 1
    return found, pipeline


def test_estimated_performance_fires_threshold_events_before_any_label():
    found, pipeline = cbpe_events(labels=False)
    assert [e.signal for e in found] == ["metric:estimated_accuracy", "metric:estimated_f1"]
    for e in found:
        assert e.kind == "performance" and e.detector == "cbpe"
        assert 3000 < e.source.offset < 3600
        assert e.stats["estimate"] < e.stats["threshold"] < e.stats["baseline"]
    [view] = pipeline.key_views()
    assert set(view.estimated_metrics) == {"accuracy", "precision", "recall", "f1"}
    assert view.estimated_gap == {}


def test_estimated_vs_realized_gap_once_labels_arrive():
    found, pipeline = cbpe_events(labels=True)
    [view] = pipeline.key_views()
    assert set(view.estimated_gap) == {"accuracy", "precision", "recall", "f1"}
    assert abs(view.estimated_gap["accuracy"]) < 0.05
    assert "metric:estimated_accuracy" in {e.signal for e in found}


def predictions(n: int, seed: int) -> list[Prediction]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        shifted = i > n // 2
        out.append(Prediction(
            prediction_id=f"p{i}", model_id="m", model_version="v1", timestamp=BASE_MS + i,
            prediction=rng.random() < 0.5, score=rng.random(),
            features={"x": rng.gauss(0, 2 if shifted else 1),
                      "c": rng.choice("ab" if not shifted else "abc"),
                      "flag": rng.random() < 0.3, "y": rng.gauss(0, 1)}))
    return out


def stream_events(monitor: KeyMonitor, preds: list[Prediction], start: int = 0) -> list[Any]:
    found = []
    for i, p in enumerate(preds, start):
        for e in monitor.observe_prediction(p, Source(topic="t", partition=0, offset=i)):
            found.append((i, e.signal, e.detector, e.samples_seen, e.stats))
    return found


def test_a_snapshot_continues_exactly_and_leaves_the_configuration_out():
    import pickle

    config = DetectionConfig(metric_thresholds={})
    preds = predictions(5000, 6)
    whole = stream_events(KeyMonitor(config, "m", "v1", None), preds)
    assert {signal for _, signal, *_ in whole} >= {"feature:x", "feature:c"}
    first = KeyMonitor(config, "m", "v1", None)
    head = stream_events(first, preds[:2700])
    data = pickle.dumps(first)
    assert b"FeatureSignalsConfig" not in data
    restored = pickle.loads(data)
    restored.attach(config, first.clock)
    assert head + stream_events(restored, preds[2700:], 2700) == whole


def test_off_and_per_model_overrides():
    preds = predictions(3000, 7)
    off = DetectionConfig(metric_thresholds={}, feature_signals=FeatureSignalsConfig.off())
    assert KeyMonitor(off, "m", "v1", None).feature_watch is None
    per_model = DetectionConfig.model_validate({
        "metric_thresholds": {},
        "models": {"m": {"feature_signals": {"numeric": [], "boolean": [], "joint": None,
                                             "cbpe": None,
                                             "categorical": [{"type": "new_category"}]}}},
    })
    monitor = KeyMonitor(per_model, "m", "v1", None)
    found = stream_events(monitor, preds)
    assert {(signal, detector) for _, signal, detector, *_ in found} <= {
        ("feature:x", "adwin"), ("feature:y", "adwin"), ("feature:c", "new_category")}
    assert ("feature:c", "new_category") in {(s, d) for _, s, d, *_ in found}
    assert KeyMonitor(per_model, "other", "v1", None).feature_watch is not None


def test_a_feature_is_known_from_its_first_non_null_value():
    monitor = KeyMonitor(DetectionConfig(), "m", "v1", None)
    watch = monitor.feature_watch
    assert watch is not None
    for i, value in enumerate([None, None, "DE"]):
        p = Prediction(prediction_id=f"p{i}", model_id="m", model_version="v1",
                       timestamp=BASE_MS, prediction=True, features={"country": value})
        assert monitor.observe_prediction(p, Source(topic="t", partition=0, offset=i)) == ()
        assert list(watch.features) == ([] if value is None else ["country"])
    assert watch.features["country"].kind == "categorical"
    assert [w.n for w in watch.features["country"].watchers()] == [1, 1, 1, 1]


def test_the_report_says_what_moved():
    from detectors.report import render_html, signal_traces

    rng = random.Random(1)
    lines = [json.dumps(readme_prediction(i, rng, country="DE" if i < 2000 else "US")).encode()
             for i in range(2200)]
    found = run([json.loads(line) for line in lines])
    page = render_html(signal_traces(lines), found, DetectionConfig())
    assert "<td>new_category</td><td>data</td><td>drift</td><td>2014</td><td>new: US ×14</td>" in page
    assert "in (other): US ×" in page and "DE 100% → " in page
