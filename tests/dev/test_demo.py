"""``driftline demo`` closes the loop on a real broker: drift detected, retrain promoted, the
server hot-swaps, accuracy recovers, and the plot is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftline.dev.demo import run_demo

pytestmark = pytest.mark.kafka


def test_demo_closes_the_loop(kafka_bootstrap: str, tmp_path: Path) -> None:
    # tail=4500: the first promotion trains on the short window since the change point; serving
    # goes on long enough for its follow-up (at 3x that window, as in the README's demo) to land.
    result = run_demo(bootstrap=kafka_bootstrap, samples=5000, drift_at=1000, rate=300,
                      label_delay=30, tail=4500, plot=tmp_path / "demo.png",
                      workdir=tmp_path / "work")
    print(f"\n[demo] detections {result.detections} swaps {result.swaps} "
          f"statuses {result.retrain_statuses}")
    assert result.detections and all(i >= 1000 for i, _ in result.detections)
    assert result.swaps, f"no promoted retrain was served; statuses {result.retrain_statuses}"
    swap_at = result.swaps[0][0]
    assert result.detections[0][0] < swap_at
    assert result.accuracy(500, 1000) > 0.85
    assert result.accuracy(1100, min(swap_at, 1300)) < 0.7
    # serving went on until the last promoted model served 4,500 predictions
    end = result.samples
    assert end >= result.swaps[-1][0] + 4500 or end == 15_000, (end, result.swaps)
    # trained on the new regime only: back within 0.03 of the accuracy before the drift
    assert result.accuracy(end - 500, end) >= result.accuracy(100, 1000) - 0.03
    assert (tmp_path / "demo.png").stat().st_size > 10_000
    # every baseline alarm is explained; the served v1 after the drift is the model's fault
    assert {a["sample"] for a in result.baseline_alarms} <= {i for i, _ in result.detections}
    for alarm in result.baseline_alarms:
        assert alarm["cause"] in ("model", "label noise"), alarm
        if alarm["model_version"] == "v1":
            assert alarm["cause"] == "model", alarm
