"""Random multi-model event streams for tests: shuffled, delayed, duplicated and missing labels."""

from __future__ import annotations

import json
import random
from typing import Any

BASE_MS = 1_700_000_000_000


def random_stream(seed: int, n_predictions: int = 3000) -> list[dict[str, Any]]:
    """Prediction and label events (JSON-ready dicts) in arrival order.

    Three models (one regression), two versions of one model, two segments; features and error
    rates shift half way so detectors fire. Labels: 10% missing, 10% duplicated, delayed by a
    random amount that can be negative (label before its prediction), so arrival is shuffled.
    """
    rng = random.Random(seed)
    timeline: list[tuple[float, int, dict[str, Any]]] = []
    seq = 0
    for i in range(n_predictions):
        model = rng.choice(["fraud", "churn", "price"])
        shifted = i > n_predictions // 2
        version = "v2" if model == "churn" and i > (2 * n_predictions) // 3 else "v1"
        segment = rng.choice([None, "eu"]) if model == "fraud" else None
        features: dict[str, Any] = {
            "amount": rng.gauss(3.0 if shifted else 0.0, 1.0),
            "count": rng.randint(0, 5),
            "country": rng.choice(["FR", "DE"]),
            "flag": rng.random() < 0.5,
            "missing": None,
        }
        if model == "price":
            truth = rng.gauss(10, 2)
            prediction: Any = truth + rng.gauss(0, 4 if shifted else 1)
            label: Any = truth
        else:
            label = rng.random() < 0.5
            wrong = rng.random() < (0.45 if shifted else 0.1)
            prediction = (not label) if wrong else label
        event: dict[str, Any] = {
            "type": "prediction",
            "prediction_id": f"p{i}",
            "model_id": model,
            "model_version": version,
            "timestamp": BASE_MS + i * 10,
            "features": features,
            "prediction": prediction,
            "score": rng.random() * (0.5 if shifted else 1.0),
        }
        if segment is not None:
            event["segment"] = segment
        timeline.append((float(i), seq, event))
        seq += 1
        if rng.random() < 0.1:
            continue  # label never arrives
        copies = 2 if rng.random() < 0.1 else 1
        for _ in range(copies):
            at = i + rng.uniform(-30, 200)
            label_event = {
                "type": "label",
                "prediction_id": f"p{i}",
                "model_id": model,
                "timestamp": BASE_MS + int(max(at, 0) * 10),
                "label": label,
            }
            timeline.append((at, seq, label_event))
            seq += 1
    timeline.sort(key=lambda item: (item[0], item[1]))
    return [event for _, _, event in timeline]


def to_jsonl(events: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(e).encode() + b"\n" for e in events)
