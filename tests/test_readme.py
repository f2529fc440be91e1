"""The README stays true: its configuration example loads in both services, and the files it
points at exist."""

from __future__ import annotations

import re
from pathlib import Path

from consumer.config import ConsumerServiceConfig, load_config
from retrain_worker.config import WorkerServiceConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def test_configuration_example_is_valid_for_consumer_and_worker(tmp_path: Path) -> None:
    section = README.read_text().split("## Configuration", 1)[1]
    example = section.split("```yaml", 1)[1].split("```", 1)[0]
    path = tmp_path / "driftline.yaml"
    path.write_text(example)
    consumer = load_config(ConsumerServiceConfig, path, environ={})
    worker = load_config(WorkerServiceConfig, path, environ={})
    assert consumer.detection.models["fraud"].metric_thresholds == {"f1": 0.7}
    assert consumer.detection.performance_baseline.metrics == ["f1"]
    assert worker.worker.policy.cooldown_s == 600


def test_linked_files_exist() -> None:
    root = README.parent
    links = re.findall(r"\]\(((?!https?:|\.\./)[^)#]+)\)", README.read_text())
    assert links, "the README links nothing?"
    missing = [link for link in links if not (root / link).exists()]
    assert missing == []
