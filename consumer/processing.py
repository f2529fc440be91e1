"""The hot path: one consumed batch in, its outputs produced into the open transaction.

Contract (:meth:`BatchProcessor.process`):

* Each record of an owned partition is decoded and validated (:mod:`consumer.batch`); runs of
  decoded records of one partition go to its pipeline in one call
  (:meth:`~detectors.pipeline.Pipeline.process_batch`, :mod:`consumer.partition`): a run ends at
  a record of another partition or one the decoder refused, so every output is produced in the
  order record-by-record processing gives. Records of a partition that is no longer owned
  (fetched before a revoke) are skipped, uncounted.
* The outputs are produced into the open transaction: drift events (key ``model_id``) to the
  drift topic, labelled records to the labelled topic (one over
  :data:`~consumer.topics.MAX_RECORD_BYTES` is counted and left out: Kafka would refuse it and
  abort every transaction carrying it), rejections to the DLQ with their context headers
  (:class:`~consumer.dead_letter.DeadLetterContext`). Data never stops the service.
* The task's position moves past the record, so the next commit sends it.
* A produce that fails raises :class:`~consumer.exceptions.AbortableTransactionError` (the
  owner recovers) or :class:`~consumer.exceptions.FatalTransactionError`.
* Per batch: consumed/processed/dead-lettered counts per partition, invalid reasons, the batch's
  size and seconds (:meth:`consumer.metrics.Metrics.add_batch`); a model seen on more than one
  partition is counted and logged once per partition (producers must key by ``model_id``).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from confluent_kafka import KafkaError, Message

from consumer.batch import Decoder
from consumer.broker_watch import BROKER_DOWN_CODES
from consumer.config import TopicNames
from consumer.dead_letter import DeadLetterContext, fit_dead_letter
from consumer.health import HealthState
from consumer.metrics import Metrics
from consumer.offset_reset import OffsetResets
from consumer.partition import PartitionTask
from consumer.topics import MAX_RECORD_BYTES
from consumer.transactions import Transactor
from detectors.contracts import DriftEvent, LabelledRecord
from detectors.encoding import drift_event_json
from detectors.labelled import labelled_json
from detectors.rejection import Rejection

log = logging.getLogger(__name__)


class BatchProcessor:
    """Decodes, detects and produces (module docstring); one per service process."""

    def __init__(self, *, decoder: Decoder, tx: Transactor, topics: TopicNames,
                 metrics: Metrics, health: HealthState,
                 offset_resets: OffsetResets | None = None) -> None:
        self._decoder = decoder
        self._offset_resets = offset_resets
        self._tx = tx
        self._topics = topics
        self._metrics = metrics
        self._health = health
        #: model → the first partition it was seen on; and every (model, partition) seen.
        self._model_partition: dict[str, int] = {}
        self._model_partitions: set[tuple[str, int]] = set()

    def process(self, messages: list[Message], tasks: Mapping[int, PartitionTask]) -> int:
        """Decode, detect and produce one batch; returns the number of records (not errors)."""
        began = time.perf_counter()
        decode = self._decoder.decode
        consumed: dict[tuple[str, str], int] = defaultdict(int)
        records: dict[tuple[int, str], int] = defaultdict(int)
        invalid: dict[str, int] = defaultdict(int)
        model_partition = self._model_partition
        touched = set()
        run: list[tuple[Any, tuple[str, int, int], bytes | None]] = []
        run_messages: list[Message] = []
        run_task: PartitionTask | None = None
        n = 0
        for msg in messages:
            if msg.error() is not None:
                self._on_message_error(msg)
                continue
            topic = msg.topic()
            partition = msg.partition()
            offset = msg.offset()
            assert topic is not None and partition is not None and offset is not None
            task = tasks.get(partition)
            if task is None:  # fetched before a revoke; not ours any more
                continue
            n += 1
            value = msg.value()
            records[(partition, "consumed")] += 1
            result = decode(value, msg.key(), topic, partition, offset)
            refused = isinstance(result, Rejection)
            if task is not run_task or refused:
                if run:
                    self._flush(run_task, run, run_messages, records, invalid)
                    run.clear()
                    run_messages.clear()
                run_task = task
            if isinstance(result, Rejection):
                self._dead_letter(result, msg, records, invalid)
            else:
                model_id = result.model_id
                consumed[(result.type, model_id)] += 1
                if model_partition.setdefault(model_id, partition) != partition:
                    self._model_conflict(model_id, model_partition[model_id], partition)
                run.append((result, (topic, partition, offset), value))
                run_messages.append(msg)
                touched.add(partition)
            task.positions[topic] = offset + 1
        if run:
            self._flush(run_task, run, run_messages, records, invalid)
        for partition in touched:
            task = tasks[partition]
            processed = task.pipeline.counters.processed
            records[(partition, "processed")] += processed - task.reported.get("processed", 0)
            task.reported["processed"] = processed
        self._tx.poll()
        self._metrics.add_batch(consumed=consumed, records=records, invalid=invalid,
                               seconds=time.perf_counter() - began, size=n)
        return n

    def _flush(
        self,
        task: PartitionTask | None,
        run: list[tuple[Any, tuple[str, int, int], bytes | None]],
        run_messages: list[Message],
        records: dict[tuple[int, str], int],
        invalid: dict[str, int],
    ) -> None:
        """One run of decoded records of one partition through its pipeline; produce outputs."""
        assert task is not None
        produce = self._tx.produce
        labelled_topic = self._topics.labelled
        label_delay = self._metrics.observe_label_delay
        for index, out in task.pipeline.process_batch(run):
            if out.__class__ is LabelledRecord:  # one per joined label
                data = labelled_json(out)
                if len(data) <= MAX_RECORD_BYTES:
                    produce(labelled_topic, data, out.model_id.encode())
                else:
                    self._labelled_too_large(out, len(data))
                label_delay(out)
            elif out.__class__ is Rejection:
                src = out.source
                topic, partition, offset = run[index][1]
                own = src.offset == offset and src.partition == partition and src.topic == topic
                self._dead_letter(out, run_messages[index] if own else None, records, invalid)
            else:
                self._emit(out)

    def _emit(self, out: DriftEvent | Any) -> None:
        """Any output but a labelled record (produced in :meth:`_process`) or a rejection."""
        if isinstance(out, DriftEvent):
            self._tx.produce(self._topics.drift, drift_event_json(out),
                             key=out.model_id.encode())
            self._metrics.drift_events.labels(out.model_id, out.detector, out.signal,
                                             out.severity).inc()
        else:
            log.error("pipeline returned an unknown output %r; ignored", type(out).__name__)

    def _labelled_too_large(self, record: LabelledRecord, size: int) -> None:
        """Not published: Kafka would refuse it, aborting every transaction that carries it. Its
        label still fed the detectors; the prediction and label stay in the input topics."""
        self._metrics.labelled_too_large.inc()
        log.warning("labelled record of prediction %r (model %r) not published: %d bytes, over "
                    "%d", record.prediction_id, record.model_id, size, MAX_RECORD_BYTES)

    def _dead_letter(
        self,
        rejection: Rejection,
        msg: Message | None,
        records: dict[tuple[int, str], int],
        invalid: dict[str, int],
    ) -> None:
        """Produce ``rejection`` to the DLQ: the original record (``msg``, when it is the one
        being processed) with the context headers; a rejection of an earlier record (an orphan
        label expiring) is keyed by its model, with the original value."""
        src = rejection.source
        records[(src.partition, "dead_lettered")] += 1
        invalid[rejection.reason] += 1
        context = DeadLetterContext(stage=rejection.stage, error_class=rejection.error_class,
                                    message=rejection.message, topic=src.topic,
                                    partition=src.partition, offset=src.offset)
        original_headers: list[tuple[str, bytes | None]] = []
        timestamp = 0
        if msg is not None:
            key = msg.key()
            original = msg.headers() or []
            original_headers.extend((k, v.encode() if isinstance(v, str) else v)
                                    for k, v in (original.items() if isinstance(original, dict)
                                                 else original))
            ts_type, ts = msg.timestamp()
            timestamp = ts if ts_type != 0 and ts > 0 else 0
        else:
            key = rejection.model_id.encode() if rejection.model_id else None
        value, headers = fit_dead_letter(key, rejection.raw, original_headers,
                                         list(context.to_headers()))
        if value is None and rejection.raw:
            log.warning("dead letter of %s[%d]@%d: its %d-byte value is left out (over %d bytes "
                        "with headers); read it at its source", src.topic, src.partition,
                        src.offset, len(rejection.raw), MAX_RECORD_BYTES)
        self._tx.produce(self._topics.dlq, value, key=key, headers=headers, timestamp=timestamp)
        self._metrics.dead_letters.inc()

    def _model_conflict(self, model_id: str, first: int, now: int) -> None:
        """Count and log each further partition a model shows up on (once per partition)."""
        if (model_id, now) in self._model_partitions:
            return
        self._model_partitions.add((model_id, now))
        self._metrics.model_partition_conflicts.labels(model_id).inc()
        log.warning("model %s seen on partition %d after partition %d: producers should key by "
                    "model_id; its state is split between partitions", model_id, now, first)

    def _on_message_error(self, msg: Message) -> None:
        err = msg.error()
        assert err is not None
        if err.code() == KafkaError._PARTITION_EOF:
            return
        if err.code() == KafkaError._AUTO_OFFSET_RESET and self._offset_resets is not None:
            self._offset_resets.note(msg)  # resolved after the batch (consumer.offset_reset)
            return
        if err.code() in BROKER_DOWN_CODES:
            self._health.broker_down()
        log.warning("consume error: %s", err.str())


__all__ = ["BatchProcessor"]
