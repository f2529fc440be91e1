"""A Quix Streams application doing the naive consumer's work with exactly-once processing.

Run by ``bench/consumer_throughput.py`` with the Python of its own virtual environment (Quix
Streams pins its own confluent-kafka and pydantic). Per message: ``json.loads``, the pydantic
contract, :class:`naive_detection.BareDetection` (River), the labelled record and drift signals
produced to their topics, invalid input to the DLQ; offsets and outputs committed in Kafka
transactions (``processing_guarantee="exactly-once"``).

Prints one JSON line: ``{"events", "seconds", "cpu_seconds"}`` from the first message processed
to the application's return after the last (its final commit included).

Usage: ``python bench/quix_app.py BOOTSTRAP INPUT LABELLED DRIFT DLQ TOTAL COMMIT_INTERVAL_S``
"""

from __future__ import annotations

import json
import logging
import resource
import sys
import time
import uuid
from typing import Any


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    bootstrap, input_topic, labelled, drift_topic, dlq, total_s, interval_s = sys.argv[1:8]
    total = int(total_s)
    from naive_detection import BareDetection
    from pydantic import TypeAdapter
    from quixstreams import Application

    from detectors.contracts import InputEvent, Label, Prediction

    adapter: TypeAdapter[Prediction | Label] = TypeAdapter(InputEvent)
    detection = BareDetection()
    seen = 0
    began: list[float] = []
    app: Any = None

    def processed(_topic: str, _partition: int, _offset: int) -> None:
        nonlocal seen
        seen += 1
        if seen >= total:
            app.stop()

    app = Application(
        broker_address=bootstrap, consumer_group=f"bench-quix-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest", processing_guarantee="exactly-once",
        commit_interval=float(interval_s), loglevel="WARNING",
        consumer_extra_config={"fetch.queue.backoff.ms": 10},
        on_message_processed=processed, auto_create_topics=False, use_changelog_topics=False,
    )
    source = app.topic(input_topic, key_deserializer="bytes", value_deserializer="bytes")
    out = {name: app.topic(name, key_serializer="bytes", value_serializer="bytes")
           for name in (labelled, drift_topic, dlq)}

    def work(value: bytes) -> list[tuple[str, bytes]]:
        if not began:
            began.extend((time.perf_counter(), _cpu()))
        try:
            event = adapter.validate_python(json.loads(value))
        except Exception:
            return [(dlq, value)]
        outputs: list[tuple[str, bytes]] = []
        if isinstance(event, Prediction):
            fired = detection.prediction(event)
        else:
            record, fired = detection.label(event)
            if record is not None:
                outputs.append((labelled, json.dumps(record).encode()))
        for signal in fired:
            outputs.append((drift_topic, json.dumps(
                {"model_id": event.model_id, "signal": signal}).encode()))
        return outputs

    sdf = app.dataframe(source).apply(work, expand=True)
    for name, topic in out.items():
        sdf.filter(lambda o, name=name: o[0] == name).apply(lambda o: o[1]).to_topic(topic)
    app.run()
    seconds = time.perf_counter() - began[0]
    print(json.dumps({"events": seen, "seconds": seconds, "cpu_seconds": _cpu() - began[1]}))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    raise SystemExit(main())
