"""``driftline replay``: invalid lines reported and skipped, a summary, valid drift events out."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from detectors.contracts import DriftEvent
from driftline.cli import main

pytestmark = pytest.mark.slow

BASE_MS = 1_700_000_000_000


def events(n: int = 1500, *, shift_at: int | None = 800, seed: int = 0) -> list[dict[str, Any]]:
    """Predictions of one model (feature ``amount`` jumps 4 sd at ``shift_at``), half labelled."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for i in range(n):
        shifted = shift_at is not None and i >= shift_at
        out.append(
            {
                "type": "prediction",
                "prediction_id": f"p{i}",
                "model_id": "fraud",
                "model_version": "v1",
                "timestamp": BASE_MS + 1000 * i,
                "features": {"amount": rng.gauss(4.0 if shifted else 0.0, 1.0), "country": "FR"},
                "prediction": rng.random() < 0.5,
                "score": rng.random(),
            }
        )
        if i % 2 == 0:
            out.append(
                {
                    "type": "label",
                    "prediction_id": f"p{i}",
                    "model_id": "fraud",
                    "timestamp": BASE_MS + 1000 * i + 500,
                    "label": rng.random() < 0.5,
                }
            )
    return out


def write_jsonl(path: Path, rows: list[Any]) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_invalid_lines_are_reported_skipped_and_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows: list[Any] = events()
    bad = {
        5: "this is not json",
        9: json.dumps({"type": "prediction", "prediction_id": "x", "timestamp": BASE_MS}),
        14: json.dumps({"type": "label", "prediction_id": "p1", "model_id": "fraud"}),
    }
    for line, text in sorted(bad.items()):
        rows.insert(line, text)
    source, output = tmp_path / "events.jsonl", tmp_path / "drift.jsonl"
    write_jsonl(source, rows)

    assert main(["replay", "--input", str(source), "--output", str(output), "--no-progress"]) == 0
    err = capsys.readouterr().err

    reported = {int(m.group(1)): m.group(2) for m in re.finditer(r"^line (\d+): (.*)$", err, re.M)}
    assert set(reported) == set(bad)
    assert reported[5].startswith("deserialize:")
    assert "model_id" in reported[9]
    assert "label" in reported[14] or "timestamp" in reported[14]
    assert f"events read:        {len(rows)}" in err
    assert "  invalid lines:    3" in err
    assert "every line accounted for: yes" in err

    drift = [DriftEvent.model_validate_json(line) for line in output.read_text().splitlines()]
    assert drift, "the jump in 'amount' must be detected"
    assert any(e.signal == "feature:amount" and e.detector == "adwin" for e in drift)
    assert not {e.source.offset for e in drift} & set(bad)
    amount = next(e for e in drift if e.signal == "feature:amount")
    assert amount.stats["mean_before"] == pytest.approx(0.0, abs=0.2)
    assert re.search(r"fraud / adwin / drift: \d+", err)


def test_labelled_output_and_same_ids_as_a_second_run(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    write_jsonl(source, events(600, shift_at=300, seed=1))
    first, second, labelled = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "l.jsonl"
    assert main(["replay", "--input", str(source), "--output", str(first), "--labelled",
                 str(labelled), "--no-progress"]) == 0  # fmt: skip
    assert main(["replay", "--input", str(source), "--output", str(second), "--no-progress"]) == 0
    ids = [json.loads(line)["event_id"] for line in first.read_text().splitlines()]
    assert ids and ids == [json.loads(line)["event_id"] for line in second.read_text().splitlines()]
    assert len(labelled.read_text().splitlines()) == 300


def test_missing_input_and_bad_config_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("detection:\n  cooldown_sample: 5\n")
    source = tmp_path / "events.jsonl"
    write_jsonl(source, events(10, shift_at=None))
    out = tmp_path / "o.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "driftline", "replay", "--input", str(tmp_path / "nope.jsonl"),
         "--output", str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "error:" in proc.stderr
    assert main(["replay", "--input", str(source), "--output", str(out), "--config",
                 str(bad)]) == 2  # fmt: skip


def test_html_report_has_one_section_per_model_with_embedded_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = events(1200, shift_at=700, seed=5)
    other = events(400, shift_at=None, seed=6)
    for row in other:
        row["model_id"] = "churn"
        row["prediction_id"] = "c" + row["prediction_id"]
    source, output, report = tmp_path / "e.jsonl", tmp_path / "d.jsonl", tmp_path / "r.html"
    write_jsonl(source, [*rows, *other, "not json"])
    config = tmp_path / "c.yaml"
    config.write_text(
        "detection:\n  signals:\n    score: [{type: page_hinkley, threshold: 5}]\n"
        "    error: [{type: ddm, warm_start: 30}]\n    feature: [{type: adwin}]\n"
    )
    code = main(["replay", "--input", str(source), "--output", str(output), "--config",
                 str(config), "--report", str(report), "--no-progress"])  # fmt: skip
    assert code == 0
    err = capsys.readouterr().err
    assert f"writing the report {report} (a second pass over {source}) ..." in err  # it runs
    assert f"wrote report {report}" in err
    page = report.read_text()
    assert page.startswith("<!DOCTYPE html>")
    sections = re.findall(r'<section class="model" id="model-([^"]+)">', page)
    assert sorted(sections) == ["churn", "fraud"]
    # per model: score, feature:amount and error signals, each an inline PNG
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert {alt for alt, _ in images} == {
        f"{m} / v1 / - / {s}"
        for m in ("fraud", "churn")
        for s in ("score", "feature:amount", "error")
    }
    assert all(len(data) > 1000 for _, data in images)
    assert "http://" not in page and "https://" not in page and "<script" not in page
    fraud = page.split('id="model-fraud"')[1].split("</section>")[0]
    assert "<td>feature:amount</td><td>adwin</td><td>data</td><td>drift</td>" in fraud


def test_no_report_file_without_the_option(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    write_jsonl(source, events(100, shift_at=None))
    assert main(["replay", "--input", str(source), "--output", str(tmp_path / "o.jsonl"),
                 "--no-progress"]) == 0  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.jsonl", "o.jsonl"]


def test_detection_overrides_from_the_environment_change_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, out = tmp_path / "events.jsonl", tmp_path / "drift.jsonl"
    write_jsonl(source, events())

    def signals() -> set[str]:
        assert main(["replay", "--input", str(source), "--output", str(out),
                     "--no-progress"]) == 0  # fmt: skip
        return {DriftEvent.model_validate_json(line).signal
                for line in out.read_text().splitlines()}

    assert "feature:amount" in signals()
    monkeypatch.setenv("DRIFTLINE_DETECTION__SIGNALS__FEATURE", "[]")
    assert "feature:amount" not in signals()
