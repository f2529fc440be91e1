"""Driftline's detection core: pure Python, no Kafka (SPEC §4).

The public API is re-exported here; ``tests/detectors/test_public_api.py`` keeps ``__all__``
honest.
"""

from detectors.config import DetectionConfig, ModelOverride
from detectors.contracts import (
    DriftEvent,
    Label,
    LabelledRecord,
    Prediction,
    Source,
    drift_event_id,
    parse_input,
    parse_input_json,
)
from detectors.exceptions import ConfigError, DriftlineError, SnapshotError
from detectors.join import LabelJoin
from detectors.lifecycle import Watcher
from detectors.monitor import KeyMonitor
from detectors.performance import ClassificationWindow, RegressionWindow, ThresholdWatcher
from detectors.pipeline import Counters, Output, Pipeline
from detectors.rejection import Rejection
from detectors.river_detectors import (
    ADWINSpec,
    DDMSpec,
    DetectorSpec,
    EDDMSpec,
    HDDMASpec,
    KSWINSpec,
    PageHinkleySpec,
)

__all__ = [
    "ADWINSpec",
    "ClassificationWindow",
    "ConfigError",
    "Counters",
    "DDMSpec",
    "DetectionConfig",
    "DetectorSpec",
    "DriftEvent",
    "DriftlineError",
    "EDDMSpec",
    "HDDMASpec",
    "KSWINSpec",
    "KeyMonitor",
    "Label",
    "LabelJoin",
    "LabelledRecord",
    "ModelOverride",
    "Output",
    "PageHinkleySpec",
    "Pipeline",
    "Prediction",
    "RegressionWindow",
    "Rejection",
    "SnapshotError",
    "Source",
    "ThresholdWatcher",
    "Watcher",
    "drift_event_id",
    "parse_input",
    "parse_input_json",
]
