"""``driftline calibrate``: YAML that ``driftline replay --config`` accepts; FA rate and delay."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from detectors.contracts import DriftEvent
from driftline.cli import main
from driftline.config import load
from tests.driftline.test_replay_command import events, write_jsonl


def test_calibrated_yaml_is_accepted_by_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, calibrated = tmp_path / "reference.jsonl", tmp_path / "calibrated.yaml"
    write_jsonl(reference, events(2000, shift_at=None, seed=3))
    code = main(["calibrate", "--reference", str(reference), "--ert", "400", "--runs", "2",
                 "--seed", "1", "--output", str(calibrated)])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err

    assert "target mean time between false alarms: 400 samples" in err
    rows = [line for line in err.splitlines() if "held-out MTBFA" in line]
    signals = {line.split()[1] for line in rows}
    assert {"feature:amount", "score", "error"} <= signals
    for line in rows:
        assert re.search(r"FA rate \d\.\d\de[-+]\d\d/sample", line), line
        assert re.search(r"shift delay median (\d+|n/a) \(detected \d+%\)", line), line
    assert f"wrote {calibrated}" in err

    document = yaml.safe_load(calibrated.read_text())
    assert set(document) == {"detection"}
    overrides = document["detection"]["models"]["fraud"]["signals"]
    assert overrides["feature:amount"][0]["type"] == "adwin"
    config = load(str(calibrated), environ={}).detection
    assert config.detectors_for("fraud", "feature:amount")[0].delta == pytest.approx(
        overrides["feature:amount"][0]["delta"]
    )

    shifted, drift = tmp_path / "shifted.jsonl", tmp_path / "drift.jsonl"
    write_jsonl(shifted, events(1500, shift_at=800, seed=4))
    code = main(["replay", "--input", str(shifted), "--output", str(drift), "--config",
                 str(calibrated), "--no-progress"])  # fmt: skip
    assert code == 0
    assert "every line accounted for: yes" in capsys.readouterr().err
    found = [DriftEvent.model_validate_json(line) for line in drift.read_text().splitlines()]
    assert any(e.signal == "feature:amount" and e.source.offset >= 800 for e in found)


def test_missing_reference_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["calibrate", "--reference", str(tmp_path / "nope.jsonl"), "--output",
                 str(tmp_path / "c.yaml")])  # fmt: skip
    assert code == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_detection_overrides_from_the_environment_reach_calibrate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference, calibrated = tmp_path / "reference.jsonl", tmp_path / "calibrated.yaml"
    write_jsonl(reference, events(1000, shift_at=None, seed=3))
    monkeypatch.setenv("DRIFTLINE_DETECTION__COOLDOWN_SAMPLES", "77")
    assert main(["calibrate", "--reference", str(reference), "--ert", "200", "--runs", "2",
                 "--output", str(calibrated)]) == 0  # fmt: skip
    document = yaml.safe_load(calibrated.read_text())["detection"]
    assert document["cooldown_samples"] == 77


def test_one_run_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference = tmp_path / "reference.jsonl"
    write_jsonl(reference, events(200, shift_at=None, seed=3))
    code = main(["calibrate", "--reference", str(reference), "--runs", "1", "--output",
                 str(tmp_path / "c.yaml")])  # fmt: skip
    assert code == 2
    assert "error: --runs 1: at least 2 runs" in capsys.readouterr().err
    assert not (tmp_path / "c.yaml").exists()


def test_a_target_rarer_than_the_reference_can_show_is_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = tmp_path / "reference.jsonl"
    write_jsonl(reference, events(1000, shift_at=None, seed=3))
    code = main(["calibrate", "--reference", str(reference), "--ert", "30000", "--runs", "2",
                 "--output", str(tmp_path / "c.yaml")])  # fmt: skip
    assert code == 0
    warnings = [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("warning: fraud feature:amount: one false alarm per")]
    assert len(warnings) == 1
    assert re.search(r"beyond what \d+ reference samples represent .* needs a reference of at "
                     r"least \d+ samples of this signal$", warnings[0]), warnings[0]
