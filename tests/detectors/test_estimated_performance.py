"""CBPE: tracks the realized metrics under covariate shift, fires, reports the gap."""

from __future__ import annotations

import pickle

import numpy as np

from detectors.estimated_performance import CBPESpec, EstimatedPerformance, confusion_metrics


def _draw(rng, n, spread):
    x = rng.normal(0.0, spread, n)
    p = 1 / (1 + np.exp(-3 * x))
    score = 1 / (1 + np.exp(-4.5 * x))  # over-confident
    return score, score >= 0.5, rng.random(n) < p


def _fitted(rng, spec=None):
    cbpe = EstimatedPerformance(spec or CBPESpec())
    score, _, label = _draw(rng, 5000, 1.5)
    cbpe.fit(score.tolist(), label.tolist())
    return cbpe


def test_estimate_tracks_the_realized_accuracy_and_f1_under_covariate_shift():
    rng = np.random.default_rng(21)
    cbpe = _fitted(rng)
    gaps = {"accuracy": [], "f1": []}
    for spread in (1.5, 0.6):
        score, predicted, label = _draw(rng, 3000, spread)
        for i in range(3000):
            cbpe.update(float(score[i]), bool(predicted[i]))
            if i >= 599 and (i + 1) % 100 == 0:  # a fresh estimate of the last 500
                y, yhat = label[i - 499 : i + 1], predicted[i - 499 : i + 1]
                realized = confusion_metrics((y & yhat).sum(), yhat.sum(), y.sum(), 500)
                for m in gaps:
                    gaps[m].append(abs(cbpe.estimates[m] - realized[m]))
    assert np.mean(gaps["accuracy"]) < 0.03 and np.mean(gaps["f1"]) < 0.03


def test_fires_when_performance_drops_and_not_before():
    rng = np.random.default_rng(22)
    cbpe = _fitted(rng)
    fired = []
    for spread, n in ((1.5, 5000), (0.4, 2000)):
        score, predicted, _ = _draw(rng, n, spread)
        for s, p in zip(score, predicted, strict=True):
            if cbpe.update(float(s), bool(p)):
                fired.append((cbpe.n, list(cbpe.breached)))
    assert len(fired) >= 1 and all(n > 5000 for n, _ in fired)
    assert fired[0][0] < 5000 + 700
    stats = cbpe.evidence()
    assert stats["estimate"] < stats["threshold"] < stats["baseline"]


def test_absolute_threshold():
    rng = np.random.default_rng(23)
    cbpe = _fitted(rng, CBPESpec(thresholds={"accuracy": 0.99}, metrics=("accuracy",)))
    score, predicted, _ = _draw(rng, 2000, 1.5)
    fired = [cbpe.update(float(s), bool(p)) for s, p in zip(score, predicted, strict=True)]
    assert sum(fired) == 1  # edge-triggered: once, while it stays below
    assert cbpe.watchers["accuracy"].threshold == 0.99


def test_gap_is_prequential_and_small_when_calibrated():
    rng = np.random.default_rng(24)
    cbpe = _fitted(rng)
    assert EstimatedPerformance(CBPESpec()).gap() == {}
    score, predicted, label = _draw(rng, 4000, 1.0)
    for s, p, y in zip(score, predicted, label, strict=True):
        cbpe.observe_label(float(s), bool(p), bool(y))
    gap = cbpe.gap()
    assert set(gap) == {"accuracy", "precision", "recall", "f1"}
    assert all(abs(v) < 0.05 for v in gap.values())


def test_snapshot_resumes_identically():
    rng = np.random.default_rng(25)
    a = _fitted(rng)
    score, predicted, _ = _draw(rng, 3000, 1.0)
    for s, p in zip(score[:1500], predicted[:1500], strict=True):
        a.update(float(s), bool(p))
    b = pickle.loads(pickle.dumps(a))
    rest = list(zip(score[1500:], predicted[1500:], strict=True))
    assert [a.update(float(s), bool(p)) for s, p in rest] == [
        b.update(float(s), bool(p)) for s, p in rest
    ]
    assert a.estimates == b.estimates
