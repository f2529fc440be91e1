"""``driftline simulate``: JSONL to a file or stdout, and produced to Kafka."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from consumer.config import TopicNames
from detectors.contracts import Label, Prediction, parse_input_json
from driftline.cli import main

pytestmark = pytest.mark.slow


def test_writes_valid_jsonl_in_event_time_order(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    code = main(["simulate", "--models", "a,b", "--samples", "200", "--rate", "10",
                 "--label-delay", "2", "--label-coverage", "0.5", "--seed", "5",
                 "--drift", "sudden:start=100,feature_shift=3", "-o", str(out)])
    assert code == 0
    events = [parse_input_json(line) for line in out.read_text().splitlines()]
    assert sum(isinstance(e, Prediction) for e in events) == 400
    assert 150 < sum(isinstance(e, Label) for e in events) < 250
    times = [e.timestamp for e in events]
    assert times == sorted(times)
    shifted = [e.features["f0"] for e in events if isinstance(e, Prediction) and e.prediction_id.endswith("0150")]
    assert all(isinstance(v, float) and v > 0.5 for v in shifted)


def test_stdout_is_the_same_stream_as_the_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    args = ["simulate", "--samples", "20", "--seed", "9", "--drift", "recurrent:start=5,width=5"]
    assert main([*args, "-o", str(out)]) == 0
    stdout = subprocess.run([sys.executable, "-m", "driftline", *args], check=True,
                            capture_output=True, text=True).stdout
    assert stdout == out.read_text()


def test_bad_drift_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", "--drift", "sideways"])
    assert exit_info.value.code == 2
    assert "unknown drift kind 'sideways'" in capsys.readouterr().err


@pytest.mark.kafka
def test_produces_to_the_configured_topics(kafka_conf: dict[str, str], topic_names: TopicNames,
                                           tmp_path: Path) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text(f"topics:\n  predictions: {topic_names.predictions}\n  labels: {topic_names.labels}\n")
    began_ms = time.time() * 1000
    code = main(["simulate", "--config", str(config), "--bootstrap-servers", kafka_conf["bootstrap.servers"],
                 "--models", "m1,m2", "--samples", "50", "--label-delay", "0.5"])
    assert code == 0
    consumer = Consumer({**kafka_conf, "group.id": f"sim-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic_names.predictions, topic_names.labels])
    received: dict[str, list[Prediction | Label]] = {topic_names.predictions: [], topic_names.labels: []}
    try:
        for _ in range(100):
            for msg in consumer.consume(200, timeout=0.5):
                assert msg.error() is None
                event = parse_input_json(msg.value())
                assert msg.key() == event.model_id.encode()
                assert msg.timestamp()[1] == round(event.timestamp.timestamp() * 1000)
                received[msg.topic()].append(event)
            if sum(map(len, received.values())) >= 200:
                break
    finally:
        consumer.close()
    assert [type(e) for e in received[topic_names.predictions]] == [Prediction] * 100
    # Stamped so that the stream ends now: the topic's retention.ms (7 days) keeps them. With
    # the 2024 default the broker's retention check deleted them under a running consumer.
    last = max(e.timestamp.timestamp() * 1000 for e in received[topic_names.predictions])
    assert began_ms - 1000 <= last <= time.time() * 1000
    assert [type(e) for e in received[topic_names.labels]] == [Label] * 100


def test_realtime_runs_report_progress() -> None:
    """``--realtime`` runs for minutes: a status line per interval (here: after every event)."""
    from driftline.commands.simulate import with_progress
    from driftline.dev.simulator import Scenario, simulate
    from driftline.progress import Periodic

    lines: list[str] = []
    events = list(simulate(Scenario(models=("m",), samples=4, label_delay_ms=0), seed=1))
    out = list(with_progress(iter(events), total=4,
                             status=Periodic(every_s=0.0, write=lines.append)))
    assert out == events
    assert len(lines) == len(events)
    assert lines[-1].startswith("simulate: 4/4 predictions (100%), ")
