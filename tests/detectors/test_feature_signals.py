"""The per-kind configuration and the factory the monitor will build detectors with."""

from __future__ import annotations

import pickle

import pytest
from pydantic import ValidationError

from detectors.feature_signals import FeatureSignalsConfig, build, feature_kind
from detectors.streaming import StreamingDetector


def _all_specs(config: FeatureSignalsConfig) -> list:
    specs = [*config.numeric, *config.categorical, *config.boolean]
    return [*specs, config.joint, config.cbpe]


def test_every_default_builds_a_fresh_picklable_detector():
    config = FeatureSignalsConfig()
    for spec in _all_specs(config):
        detector = build(spec)
        assert detector.n == 0
        assert pickle.loads(pickle.dumps(detector)).n == 0
        if spec.type != "cbpe":  # CBPE reads (score, predicted): update(score, predicted)
            assert isinstance(detector, StreamingDetector)


def test_yaml_shape_round_trips():
    data = {
        "numeric": [
            {"type": "shape_drift", "bins": 16},
            {"type": "missing_rate", "min_rate": 0.02},
        ],
        "categorical": [{"type": "category_drift", "max_categories": 8, "name": "cats"}],
        "boolean": [],
        "joint": None,
        "cbpe": {"thresholds": {"f1": 0.7}},
    }
    config = FeatureSignalsConfig.model_validate(data)
    assert [s.label for s in config.numeric] == ["shape_drift", "missing_rate"]
    assert config.categorical[0].label == "cats" and config.joint is None
    assert FeatureSignalsConfig.model_validate(config.model_dump()) == config


def test_unknown_fields_are_refused():
    with pytest.raises(ValidationError, match="extra_forbidden"):
        FeatureSignalsConfig.model_validate({"numeric": [{"type": "shape_drift", "bin": 3}]})
    with pytest.raises(ValidationError):
        FeatureSignalsConfig.model_validate({"numeric": [{"type": "adwin"}]})


def test_feature_kind():
    assert [feature_kind(v) for v in (1, 1.5, False, "x", None, [1])] == [
        "numeric",
        "numeric",
        "boolean",
        "categorical",
        None,
        None,
    ]
