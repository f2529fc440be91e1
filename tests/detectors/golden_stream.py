"""The golden stream: a fixed, seeded JSONL input that exercises every path of ``driftline replay``.

Three models (a classifier with a boolean output and a score, a multi-class classifier with
string outputs, two versions and segments, and a regressor), features of every JSON kind
(float, int, str, bool, null), epoch-millisecond and RFC 3339 timestamps (with offsets and
sub-millisecond digits), labels that arrive late, before their prediction, twice or never,
duplicated predictions, a label whose type does not fit its prediction, invalid lines of every
kind the contract refuses (and a few it coerces), and a drift halfway through each model so that
ADWIN, Page-Hinkley, DDM and the metric thresholds fire.

``tests/detectors/golden/`` holds this stream (``events.jsonl``), the configuration it is
replayed with (:data:`CONFIG`) and the outputs today's code wrote for it (``drift.jsonl``,
``labelled.jsonl``, ``rejections.jsonl``). They were written once with::

    .venv/bin/python -m tests.detectors.golden_stream --write

and are compared byte for byte by ``test_golden_replay.py``; rewriting them is a decision to be
justified in the commit that does it, never a way to make that test pass.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).parent / "golden"
BASE_MS = 1_714_564_800_000  # 2024-05-01T12:00:00Z

#: The ``detection:`` section the golden stream is replayed with (small warm-ups so a short
#: stream fires every kind of detector).
CONFIG: dict[str, Any] = {
    "warmup_samples": 40,
    "cooldown_samples": 150,
    "metric_window": 80,
    "metric_thresholds": {"f1": 0.6, "accuracy": 0.7, "mae": 1.5},
    "label_wait_ttl_s": 30.0,
    "join_ttl_s": 400.0,
    "signals": {
        "error": [{"type": "ddm", "warm_start": 30}],
        "score": [{"type": "adwin", "delta": 0.002}],
        "residual": [{"type": "adwin", "delta": 0.002}],
        "feature": [{"type": "adwin", "delta": 0.002}],
        "feature:amount": [
            {"type": "adwin", "delta": 0.002},
            {"type": "page_hinkley", "threshold": 15.0},
        ],
    },
    "models": {"churn": {"positive_label": "leave"}},
}


def _ts(rng: random.Random, ms: int) -> Any:
    """Epoch milliseconds most of the time, else an RFC 3339 string in some offset."""
    r = rng.random()
    if r < 0.7:
        return ms
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if r < 0.8:
        return moment.isoformat().replace("+00:00", "Z")
    if r < 0.9:
        tz = timezone(timedelta(hours=rng.choice([-5, 2, 9]), minutes=rng.choice([0, 30])))
        return moment.astimezone(tz).isoformat()
    micro = moment + timedelta(microseconds=rng.randrange(1000))
    return micro.isoformat()


def _prediction(rng: random.Random, model: str, i: int, shifted: bool, ms: int) -> dict[str, Any]:
    event: dict[str, Any] = {"type": "prediction", "prediction_id": f"{model}-{i}",
                             "model_id": model, "timestamp": _ts(rng, ms)}
    if model == "fraud":
        amount = rng.gauss(3.0 if shifted else 0.0, 1.0)
        event.update(model_version="v1", prediction=rng.random() < 0.3,
                     score=round(rng.random(), rng.choice([2, 6, 17])),
                     features={"amount": amount, "items": rng.randrange(1, 9),
                               "country": rng.choice(["FR", "DE", "ÉS", "日本"]),
                               "vip": rng.random() < 0.1,
                               "coupon": None if rng.random() < 0.5 else "X1"})
    elif model == "churn":
        event.update(model_version="v1" if i < 350 else "v2",
                     segment=rng.choice(["eu", "us"]),
                     prediction=rng.choice(["stay", "leave", "maybe"]),
                     features={"tenure": rng.randrange(0, 60) + (30 if shifted else 0),
                               "spend": rng.gauss(50.0, 10.0)})
        if rng.random() < 0.5:
            event["score"] = rng.random()
    else:  # price: regression
        x = rng.gauss(10.0, 2.0)
        event.update(model_version="v3", prediction=round(2.0 * x + rng.gauss(0, 0.5), 3),
                     features={"size": x, "rooms": rng.randrange(1, 6)})
    if rng.random() < 0.05:
        event["extra_field"] = {"ignored": True}
    return event


def _label(rng: random.Random, p: dict[str, Any], shifted: bool, ms: int) -> dict[str, Any]:
    model = p["model_id"]
    if model == "fraud":
        wrong = rng.random() < (0.45 if shifted else 0.08)
        value: Any = (not p["prediction"]) if wrong else p["prediction"]
    elif model == "churn":
        right = rng.random() < (0.4 if shifted else 0.85)
        value = p["prediction"] if right else rng.choice(["stay", "leave", "maybe"])
    else:
        value = round(p["prediction"] + rng.gauss(2.5 if shifted else 0.0, 0.6), 3)
        if rng.random() < 0.1:
            value = int(value)
    return {"type": "label", "prediction_id": p["prediction_id"], "model_id": model,
            "timestamp": _ts(rng, ms), "label": value}


#: Lines the contract refuses or coerces; one of each is spread through the stream.
BAD_LINES: list[str] = [
    "",
    "not json at all",
    '{"type": "prediction", "prediction_id": "x1"',
    '{"type": "prediction", "prediction_id": "bad-1", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true, "score": NaN}',
    '{"type": "prediction", "prediction_id": "bad-2", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true, "score": Infinity}',
    '{"type": "prediction", "prediction_id": "bad-3", "model_id": "fraud",'
    ' "timestamp": 1714564800000, "prediction": true}',
    '{"type": "label", "prediction_id": "bad-4", "model_id": "fraud", "timestamp": "yesterday",'
    ' "label": true}',
    '{"type": "label", "prediction_id": "bad-5", "model_id": "fraud",'
    ' "timestamp": "2024-05-01T12:00:00", "label": true}',
    '{"type": "label", "prediction_id": "bad-6", "model_id": "fraud", "timestamp": 1714564800000,'
    ' "label": [1, 2]}',
    '{"type": "feedback", "prediction_id": "bad-7", "model_id": "fraud"}',
    '{"prediction_id": "bad-8", "model_id": "fraud"}',
    '{"type": "label", "schema_version": 2, "prediction_id": "bad-9", "model_id": "fraud",'
    ' "timestamp": 1714564800000, "label": true}',
    '{"type": "prediction", "prediction_id": "", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true}',
    '{"type": "prediction", "prediction_id": "bad-10", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true, "features": {"a": [1]}}',
    '{"type": "prediction", "prediction_id": "bad-11", "model_id": null, "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true}',
    '[1, 2, 3]',
    '"just a string"',
    '{"type": "label", "prediction_id": "bad-12", "model_id": "fraud", "timestamp": true,'
    ' "label": true}',
    '{"type": "label", "prediction_id": "bad-13", "model_id": "fraud",'
    ' "timestamp": 1e30, "label": true}',
    '{"type": "prediction", "prediction_id": "bad-14", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564800000, "prediction": true, "score": 1e999}',
    '{"type": "label", "prediction_id": "\\ud800", "model_id": "fraud",'
    ' "timestamp": 1714564800000, "label": 1}',
    '\udcff\udcfe{"type": "label"}',  # bytes 0xff 0xfe: not UTF-8
    '{"type": "label", "prediction_id": "bad-15", "model_id": "fraud", "timestamp": 1714564800000,'
    ' "label": true} trailing',
    '{"type": "prediction", "prediction_id": "' + "y" * 300 + '", "model_id": "fraud",'
    ' "model_version": "v1", "timestamp": 1714564800000, "prediction": true}',
]

#: Lines pydantic's lax JSON mode accepts by coercion (strict decoders refuse them): they must
#: keep being accepted, with the same values.
COERCED_LINES: list[str] = [
    '{"type": "prediction", "prediction_id": "lax-1", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564801000, "prediction": true, "score": "0.5"}',
    '{"type": "prediction", "prediction_id": "lax-2", "model_id": "fraud", "model_version": "v1",'
    ' "timestamp": 1714564801000.0, "prediction": false, "score": 1}',
    '{"type": "prediction", "prediction_id": "lax-3", "model_id": "fraud", "model_version": "v1",'
    ' "schema_version": 1.0, "timestamp": "1714564801000", "prediction": 1}',
    '{"type": "label", "prediction_id": "lax-1", "model_id": "fraud", "timestamp": 1714564801500,'
    ' "label": "true"}',
    '{"type": "label", "prediction_id": "lax-2", "model_id": "fraud", "timestamp": 1714564801500,'
    ' "label": 0.0}',
]


def golden_lines(seed: int = 20240501, per_model: int = 700) -> list[str]:
    """The golden stream's lines, in order (without newlines)."""
    rng = random.Random(seed)
    models = ("fraud", "churn", "price")
    out: list[tuple[int, int, str]] = []  # (time ms, tie-break, line)
    seq = 0

    def put(ms: int, line: str) -> None:
        nonlocal seq
        seq += 1
        out.append((ms, seq, line))

    for m, model in enumerate(models):
        for i in range(per_model):
            ms = BASE_MS + 1000 * i + 7 * m
            shifted = i >= per_model // 2
            p = _prediction(rng, model, i, shifted, ms)
            r = rng.random()
            if r < 0.03:  # label before its prediction (waits, then joins)
                put(ms - 400, json.dumps(_label(rng, p, shifted, ms - 400), ensure_ascii=False))
                put(ms, json.dumps(p, ensure_ascii=False))
                continue
            put(ms, json.dumps(p, ensure_ascii=False))
            if rng.random() < 0.01:  # duplicated prediction
                put(ms + 1, json.dumps(p, ensure_ascii=False))
            if r < 0.85:  # labelled after a delay
                delay = rng.choice([200, 1500, 5000, 30_000])
                label = _label(rng, p, shifted, ms + delay)
                put(ms + delay, json.dumps(label, ensure_ascii=False))
                if rng.random() < 0.02:  # the same label twice
                    put(ms + delay + 3, json.dumps(label, ensure_ascii=False))
            # else: never labelled (expires after join_ttl_s)
        for k in range(4):  # orphan labels: no prediction ever arrives
            ms = BASE_MS + 1000 * (k * 150 + 20) + 3
            put(ms, json.dumps({"type": "label", "prediction_id": f"{model}-ghost-{k}",
                                "model_id": model, "timestamp": ms, "label": True}))
    # A regression prediction whose label is a string: LabelTypeMismatch at the join.
    put(BASE_MS + 100_000, json.dumps({
        "type": "prediction", "prediction_id": "mismatch", "model_id": "price",
        "model_version": "v3", "timestamp": BASE_MS + 100_000, "prediction": 2.5}))
    put(BASE_MS + 100_500, json.dumps({
        "type": "label", "prediction_id": "mismatch", "model_id": "price",
        "timestamp": BASE_MS + 100_500, "label": "high"}))
    out.sort()
    lines = [line for _, _, line in out]
    for k, bad in enumerate(BAD_LINES + COERCED_LINES):
        lines.insert(37 + 61 * k, bad)
    return lines


def write_input(path: Path) -> None:
    path.write_bytes("".join(line + "\n" for line in golden_lines()).encode("utf-8", "surrogateescape"))


if __name__ == "__main__":
    if "--write" not in sys.argv:
        raise SystemExit("usage: golden_stream.py --write  (rewrites tests/detectors/golden/)")
    from tests.detectors.test_golden_replay import write_golden

    write_golden()
