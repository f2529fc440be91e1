"""Golden replay: ``driftline replay`` of a fixed stream writes the same bytes as it always did.

The stream (:mod:`golden_stream`) and the outputs it gave before the hot-path work are checked
in under ``tests/detectors/golden/``: drift events and labelled records byte for byte (ids,
stats and timestamps included; ``published_at`` from a fixed clock), and every rejection
(line, reason, message). Any change to decoding, joining, detection, the alert lifecycle or
output encoding that shows in the outputs fails here. The one change since: drift events carry
the additive ``change_point`` field (``null`` where no estimate is wired; issue 12).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from detectors.config import DetectionConfig
from detectors.replay import ReplaySummary, replay_file
from tests.detectors.golden_stream import CONFIG, GOLDEN, write_input

#: ``published_at`` of every golden drift event.
PUBLISHED_AT = datetime(2026, 1, 1, tzinfo=UTC)

OUTPUTS = ("drift.jsonl", "labelled.jsonl", "rejections.jsonl", "summary.json")


def replay_golden(out: Path) -> ReplaySummary:
    """Replay ``golden/events.jsonl`` into ``out`` (the files of :data:`OUTPUTS`)."""
    summary = replay_file(
        GOLDEN / "events.jsonl",
        out / "drift.jsonl",
        labelled_path=out / "labelled.jsonl",
        config=DetectionConfig.model_validate(CONFIG),
        show_progress=False,
        clock=lambda: PUBLISHED_AT,
    )
    (out / "rejections.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in summary.rejections),
        encoding="utf-8",
    )
    figures = {
        "events": summary.events,
        "invalid": summary.invalid,
        "predictions": summary.predictions,
        "labels": summary.labels,
        "drift_events": summary.drift_events,
        "labelled": summary.labelled,
        "counters": summary.counters,
        "suppressed": summary.suppressed,
        "balanced": summary.balanced,
    }
    (out / "summary.json").write_text(json.dumps(figures, indent=1, sort_keys=True) + "\n")
    return summary


def write_golden() -> None:
    """Rewrite the stream and its expected outputs from the code as it is now."""
    GOLDEN.mkdir(exist_ok=True)
    write_input(GOLDEN / "events.jsonl")
    replay_golden(GOLDEN)


def test_the_stream_is_the_generated_one(tmp_path: Path) -> None:
    write_input(tmp_path / "events.jsonl")
    assert (tmp_path / "events.jsonl").read_bytes() == (GOLDEN / "events.jsonl").read_bytes()


def test_replay_writes_the_golden_bytes(tmp_path: Path) -> None:
    summary = replay_golden(tmp_path)
    assert summary.balanced
    for name in OUTPUTS:
        got = (tmp_path / name).read_bytes().splitlines()
        want = (GOLDEN / name).read_bytes().splitlines()
        for i, (a, b) in enumerate(zip(got, want, strict=False)):
            assert a == b, f"{name} line {i + 1} differs:\n got  {a!r}\n want {b!r}"
        assert len(got) == len(want), f"{name}: {len(got)} lines, golden has {len(want)}"


def test_the_golden_stream_covers_what_it_claims() -> None:
    """Every detector, severity and rejection kind the stream was built to exercise occurs."""
    drift = [json.loads(line) for line in (GOLDEN / "drift.jsonl").read_text().splitlines()]
    fired = {(e["model_id"], e["detector"], e["severity"]) for e in drift}
    for expected in [("fraud", "adwin", "drift"), ("fraud", "page_hinkley", "drift"),
                     ("fraud", "ddm", "drift"), ("fraud", "ddm", "warning"),
                     ("price", "adwin", "drift"), ("price", "threshold", "drift"),
                     ("churn", "threshold", "warning")]:  # churn never met its thresholds
        assert expected in fired
    # every detector's drift says where its new regime began; thresholds and warnings do not
    for e in drift:
        estimated = e["severity"] == "drift" and e["detector"] != "threshold"
        assert (e["change_point"] is not None) == estimated, e
        if estimated:
            assert e["change_point"]["at"] <= e["detected_at"]
            assert 1 <= e["change_point"]["samples"] <= e["samples_seen"]
    summary = json.loads((GOLDEN / "summary.json").read_text())
    reasons = set(summary["counters"]["rejected"])
    for expected in ["join:OrphanLabel", "join:DuplicateLabel", "join:DuplicatePrediction",
                     "process:LabelTypeMismatch", "validate:ValidationError"]:
        assert expected in reasons
    assert summary["counters"]["expired"] > 0
