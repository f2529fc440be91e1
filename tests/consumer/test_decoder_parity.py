"""``driftline replay`` and ``driftline consume`` refuse the same lines with the same reason and
message, and both apply the configuration's field mapping."""

from __future__ import annotations

import io
import json
from pathlib import Path

import yaml

from consumer.batch import Decoder
from detectors.field_mapping import FieldMapping
from detectors.rejection import Rejection
from detectors.replay import replay_stream
from driftline.config import load

GOLDEN = Path(__file__).parents[1] / "detectors" / "golden" / "events.jsonl"


def test_replay_and_consume_refuse_each_golden_line_alike() -> None:
    lines = GOLDEN.read_bytes().splitlines(keepends=True)
    replayed: dict[int, Rejection] = {}
    replay_stream(lines, drift_out=io.StringIO(),
                  on_invalid=lambda line, r: replayed.__setitem__(line, r))
    decoder = Decoder(max_record_bytes=10**9)
    consumed = {}
    for offset, raw in enumerate(lines):
        result = decoder.decode(raw.rstrip(b"\r\n"), b"key", "replay", 0, offset)
        if isinstance(result, Rejection):
            consumed[offset] = (result.reason, result.message)
    invalid = {line: (r.reason, r.message) for line, r in replayed.items()
               if r.stage in ("deserialize", "validate")}
    assert len(invalid) >= 20
    assert invalid == consumed


def test_replay_applies_the_field_mapping(tmp_path: Path) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text(yaml.safe_dump({"field_mapping": {
        "type_path": "/kind", "type_values": {"inference": "prediction", "truth": "label"},
        "prediction": {"prediction_id": "/id", "prediction": "/out"},
        "label": {"prediction_id": "/id", "label": "/y"}}}))
    mapping = load(config).field_mapping
    assert isinstance(mapping, FieldMapping)
    rows = [{"kind": "inference", "id": "r1", "model_id": "m", "model_version": "v",
             "timestamp": 0, "out": 1},
            {"kind": "truth", "id": "r1", "model_id": "m", "timestamp": 5, "y": 0},
            {"kind": "truth", "model_id": "m", "timestamp": 6, "y": 0}]
    lines = [json.dumps(r).encode() + b"\n" for r in rows]
    labelled = io.StringIO()
    refused: list[tuple[int, str]] = []
    summary = replay_stream(lines, drift_out=io.StringIO(), labelled_out=labelled,
                            field_mapping=mapping,
                            on_invalid=lambda line, r: refused.append((line, r.message)))
    assert summary.labelled == 1 and json.loads(labelled.getvalue())["prediction_id"] == "r1"
    assert refused == [(2, "label.prediction_id: Field required")]
    decoded = Decoder(mapping).decode(lines[2].strip(), b"m", "replay", 0, 2)
    assert isinstance(decoded, Rejection) and decoded.message == refused[0][1]
