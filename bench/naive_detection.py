"""The naive consumer's detection work, shared by the readers of ``bench/consumer_throughput.py``
(naive, floor, and the Quix Streams app, which runs in its own virtual environment).

River as its docs use it, and nothing else: ADWIN per numeric feature and on the score, a dict
join of labels to predictions, DDM on the error. No lifecycle, no windows, no state snapshots.
"""

from __future__ import annotations

from typing import Any

from river import drift

from detectors.contracts import Label, Prediction


class BareDetection:
    """River per event, keyed by (model, signal)."""

    def __init__(self) -> None:
        self.detectors: dict[tuple[str, str], Any] = {}
        self.pending: dict[str, Prediction] = {}

    def prediction(self, event: Prediction) -> list[str]:
        """Feed one prediction; the signals whose detector fired."""
        self.pending[event.prediction_id] = event
        signals = {f"feature:{k}": v for k, v in event.features.items()
                   if isinstance(v, int | float) and not isinstance(v, bool)}
        if event.score is not None:
            signals["score"] = event.score
        fired = []
        for signal, value in signals.items():
            det = self.detectors.get((event.model_id, signal))
            if det is None:
                det = self.detectors[(event.model_id, signal)] = drift.ADWIN()
            det.update(value)
            if det.drift_detected:
                fired.append(signal)
        return fired

    def label(self, event: Label) -> tuple[dict[str, Any] | None, list[str]]:
        """Feed one label; the joined record (None for an orphan) and the signals that fired."""
        prediction = self.pending.pop(event.prediction_id, None)
        if prediction is None:
            return None, []
        det = self.detectors.get((event.model_id, "error"))
        if det is None:
            det = self.detectors[(event.model_id, "error")] = drift.binary.DDM()
        det.update(int(prediction.prediction != event.label))
        record = {"prediction_id": prediction.prediction_id, "model_id": prediction.model_id,
                  "features": prediction.features, "prediction": prediction.prediction,
                  "label": event.label}
        return record, ["error"] if det.drift_detected else []
