"""JointDriftDetector: a correlation flip the marginals do not show."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from detectors.joint_drift import JointDriftDetector, JointDriftSpec
from detectors.shape_drift import ShapeDriftDetector, ShapeDriftSpec


def _rows(rng, n, rho):
    x = rng.standard_normal((n, 3))
    x[:, 1] = rho * x[:, 0] + np.sqrt(1 - rho**2) * x[:, 1]
    return [{"a": float(r[0]), "b": float(r[1]), "c": float(r[2]), "name": "x"} for r in x]


def test_correlation_flip_fires_and_names_the_pair():
    rng = np.random.default_rng(17)
    stream = _rows(rng, 3000, 0.9) + _rows(rng, 1000, -0.9)
    joint = JointDriftDetector(JointDriftSpec(sample_every=1))
    shapes = {name: ShapeDriftDetector(ShapeDriftSpec()) for name in "abc"}
    fired = [i for i, row in enumerate(stream) if joint.update(row)]
    marginal = [i for i, row in enumerate(stream) for n in "abc" if shapes[n].update(row[n])]
    assert fired and 3000 < fired[0] < 3300
    assert marginal == []
    stats = joint.evidence()
    assert {stats["feature_1"], stats["feature_2"]} == {"a", "b"}
    assert stats["features"] == 3  # the string feature is not part of it


def test_stationary_rows_are_quiet():
    rng = np.random.default_rng(18)
    joint = JointDriftDetector(JointDriftSpec(sample_every=1))
    assert not any(joint.update(row) for row in _rows(rng, 30_000, 0.5))


def test_missing_values_count_as_the_reference_mean():
    rng = np.random.default_rng(19)
    rows = _rows(rng, 5000, 0.5)
    for row in rows[::7]:
        row["a"] = None
    joint = JointDriftDetector(JointDriftSpec(sample_every=1))
    assert not any(joint.update(row) for row in rows)


def test_one_feature_is_inert():
    joint = JointDriftDetector(JointDriftSpec(sample_every=1))
    assert not any(joint.update({"a": float(i % 7)}) for i in range(5000))
    assert joint.components == 0


def test_snapshot_resumes_identically():
    rng = np.random.default_rng(20)
    stream = _rows(rng, 2000, 0.8) + _rows(rng, 1000, -0.8)
    a = JointDriftDetector(JointDriftSpec(sample_every=1))
    for row in stream[:1500]:
        a.update(row)
    b = pickle.loads(pickle.dumps(a))
    assert [a.update(r) for r in stream[1500:]] == [b.update(r) for r in stream[1500:]]


def test_plain_python_rows_equal_numpy_rows(monkeypatch):
    import detectors.joint_drift as joint_drift

    rng = np.random.default_rng(19)
    stream = _rows(rng, 3000, 0.9) + _rows(rng, 1500, -0.9) + _rows(rng, 3000, 0.0)

    def run():
        joint = JointDriftDetector(JointDriftSpec(sample_every=1))
        return [(i, joint.evidence()) for i, row in enumerate(stream) if joint.update(row)]

    small = run()
    monkeypatch.setattr(joint_drift, "SMALL", 0)
    large = run()
    assert len(small) >= 2 and [i for i, _ in small] == [i for i, _ in large]
    for (_, a), (_, b) in zip(small, large, strict=True):
        assert a.keys() == b.keys()
        for key, value in a.items():
            if isinstance(value, float):
                assert value == pytest.approx(b[key], rel=1e-9), key
            else:
                assert value == b[key], key


def test_sample_every_reads_one_row_in_n():
    rng = np.random.default_rng(20)
    stream = _rows(rng, 12_000, 0.9) + _rows(rng, 4000, -0.9)
    joint = JointDriftDetector(JointDriftSpec(sample_every=4))
    assert not any(joint.update(row) for row in stream[:4003])
    assert joint.n == 1000  # rows 3, 7, ..., 3999 made the reference; 4000-4002 were skipped
    fired = [i for i, row in enumerate(stream[4003:], 4003) if joint.update(row)]
    assert fired and 12_000 < fired[0] < 12_000 + 4 * 300
