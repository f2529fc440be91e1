"""The demo's account of a baseline alarm (:func:`driftline.dev.demo.explain_alarm`): the world's
label noise or the model, told apart by the labels the world flipped (pure, no Kafka)."""

from __future__ import annotations

from driftline.dev.demo import DemoResult, ModelServer, World, explain_alarm


def test_the_old_model_after_the_drift_is_the_model() -> None:
    world, server = World(drift_at=2000), ModelServer()
    correct = [server.predict(world.sample(i)[0])[0] == world.sample(i)[1] for i in range(2600)]
    alarm = explain_alarm(world, correct, 0, 2499, baseline_samples=1000, window=500)
    assert alarm["cause"] == "model"
    assert alarm["noise_free_accuracy_in_baseline"] == 1.0
    assert alarm["noise_free_accuracy_in_window"] < 0.6


def test_the_window_stays_within_the_versions_own_samples() -> None:
    """A window that would reach back before the version served counts only its own samples."""
    world = World(drift_at=10**9, noise=0.5, seed=1)
    correct = [True] * 3000
    alarm = explain_alarm(world, correct, 2000, 2099, baseline_samples=100, window=500)
    flipped = sum(world.flipped(i) for i in range(2000, 2100)) / 100
    assert alarm["labels_flipped_in_window"] == round(flipped, 3)
    assert alarm["labels_flipped_in_baseline"] == alarm["labels_flipped_in_window"]


def test_a_version_serves_from_its_swap() -> None:
    result = DemoResult(samples=10, drift_at=5, swaps=[(7, "r-a"), (9, "r-b")])
    assert [result.served_from(v) for v in ("v1", "r-a", "r-b")] == [0, 7, 9]
