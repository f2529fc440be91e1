"""``driftline simulate``: simulated predictions and delayed labels, with drift, as JSONL or to Kafka.

Events come from :func:`driftline.dev.simulator.simulate`, in event-time order. Without
``--bootstrap-servers`` (or ``--config``) they are written as JSON lines to ``--output`` (stdout
by default); with them they are produced to the predictions and labels topics of the config file
(key = ``model_id``, Kafka timestamp = event time), and simulated time *ends* now (the last
prediction): a broker deletes records older than the topic's ``retention.ms`` by their timestamps
at its next retention check, whatever their offsets, so a stream stamped in the past vanished
under the consumer reading it (JSONL keeps the fixed default start, 2024-01-01, reproducible).
``--realtime`` paces the output at the event-time rate on the wall clock (and starts simulated
time now), which is how a live demo feeds a running consumer.

A drift is written ``KIND:key=value,...`` with the fields of :class:`~driftline.dev.simulator.Drift`:

>>> parse_drift("gradual:start=2000,width=800,concept_rotation=90")
Drift(kind='gradual', start=2000, width=800, feature_shift=0.0, score_shift=0.0, concept_rotation=90.0, shifted_features=('f0',))
>>> parse_drift("seasonal:start=0,width=1000,feature_shift=2,shifted_features=f0+f1").shifted_features
('f0', 'f1')
>>> parse_drift("sudden")
Drift(kind='sudden', start=1000, width=500, feature_shift=0.0, score_shift=0.0, concept_rotation=90.0, shifted_features=('f0',))
>>> parse_drift("sudden:begin=3")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: unknown drift field 'begin'; expected one of start, width, feature_shift, score_shift, concept_rotation, shifted_features
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from driftline.dev.simulator import DRIFT_KINDS, Drift, Scenario, simulate
from driftline.progress import Periodic

if TYPE_CHECKING:
    from detectors.contracts import Label, Prediction

_INT_FIELDS = ("start", "width")
_FLOAT_FIELDS = ("feature_shift", "score_shift", "concept_rotation")
_EFFECTS = ("feature_shift", "score_shift", "concept_rotation")


def parse_drift(text: str) -> Drift:
    """Parse ``KIND[:key=value,...]``; a drift that moves nothing rotates the concept by 90°."""
    kind, _, rest = text.partition(":")
    if kind not in DRIFT_KINDS:
        raise argparse.ArgumentTypeError(
            f"unknown drift kind {kind!r}; expected one of {', '.join(DRIFT_KINDS)}"
        )
    fields: dict[str, Any] = {"start": 1000}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"drift field {item!r} must be key=value")
        try:
            if key in _INT_FIELDS:
                fields[key] = int(value)
            elif key in _FLOAT_FIELDS:
                fields[key] = float(value)
            elif key == "shifted_features":
                fields[key] = tuple(value.split("+"))
            else:
                raise argparse.ArgumentTypeError(
                    f"unknown drift field {key!r}; expected one of "
                    f"{', '.join((*_INT_FIELDS, *_FLOAT_FIELDS, 'shifted_features'))}"
                )
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"drift field {key}: {exc}") from exc
    if not any(fields.get(name) for name in _EFFECTS):
        fields["concept_rotation"] = 90.0
    try:
        return Drift(kind=kind, **fields)  # type: ignore[arg-type]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def scenario_from_args(args: argparse.Namespace, start_ms: int | None = None) -> Scenario:
    models = tuple(m for m in args.models.split(",") if m)
    kwargs: dict[str, Any] = {}
    if start_ms is not None:
        kwargs["start_ms"] = start_ms
    return Scenario(
        models=models,
        samples=args.samples,
        rate=args.rate,
        drifts=tuple(args.drift or ()),
        model_version=args.model_version,
        n_features=args.features,
        label_noise=args.label_noise,
        label_delay_ms=round(args.label_delay * 1000),
        label_delay_jitter_ms=round(args.label_delay_jitter * 1000),
        label_coverage=args.label_coverage,
        segment=args.segment,
        **kwargs,
    )


def paced(events: Iterable[Prediction | Label], speed: float = 1.0) -> Iterator[Prediction | Label]:
    """Yield each event no earlier than its event time (relative to the first), at ``speed``×."""
    first: float | None = None
    wall0 = time.monotonic()
    for event in events:
        t = event.timestamp.timestamp()
        if first is None:
            first = t
        delay = (t - first) / speed - (time.monotonic() - wall0)
        if delay > 0:
            time.sleep(delay)
        yield event


def with_progress(events: Iterable[Prediction | Label], total: int, every_s: float = 10.0,
                  status: Periodic | None = None) -> Iterator[Prediction | Label]:
    """``events``, writing a status line every ``every_s`` (predictions so far of ``total``,
    the rate, the time left at that rate): a ``--realtime`` run takes minutes."""
    from detectors.contracts import Prediction

    status = status or Periodic(every_s)
    began = time.monotonic()
    predictions = 0

    def line() -> str:
        elapsed = max(1e-9, time.monotonic() - began)
        rate = predictions / elapsed
        left = (total - predictions) / rate if rate > 0 else float("inf")
        return (f"simulate: {predictions}/{total} predictions ({100 * predictions / total:.0f}%)"
                f", {rate:.0f}/s, ~{left:.0f}s left")

    for event in events:
        if isinstance(event, Prediction):
            predictions += 1
        yield event
        status.update(line)


def _write_jsonl(events: Iterable[Prediction | Label], output: str) -> int:
    count = 0
    stream = sys.stdout if output == "-" else open(output, "w", encoding="utf-8")  # noqa: SIM115
    try:
        for event in events:
            stream.write(event.model_dump_json())
            stream.write("\n")
            count += 1
        stream.flush()
    finally:
        if stream is not sys.stdout:
            stream.close()
    return count


def _produce(events: Iterable[Prediction | Label], args: argparse.Namespace) -> int:
    from consumer.broker_watch import wait_for_cluster
    from consumer.clients import describe, librdkafka_logger, new_producer
    from consumer.topics import TopicError, counts_in
    from detectors.contracts import Prediction
    from driftline.config import load

    config = load(args.config)
    properties: dict[str, Any] = dict(config.kafka)
    if args.bootstrap_servers:
        properties["bootstrap.servers"] = args.bootstrap_servers
    properties.setdefault("linger.ms", 20)
    properties["logger"] = librdkafka_logger()  # its repeated lines once per 30 s
    source = "kafka"
    producer = new_producer(properties, source)  # a refused property: exit 2, named
    # A broker and both topics before the first event: else the events would wait in memory
    # until --flush-timeout and fail with a bare "timed out".
    metadata = wait_for_cluster(properties, args.flush_timeout, bound="--flush-timeout")
    try:
        counts_in(metadata, list(dict.fromkeys([config.topics.predictions,
                                                config.topics.labels])))
    except TopicError as exc:
        print(f"driftline simulate: {exc}", file=sys.stderr)
        return -1
    errors: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            errors.append(describe(err))

    count = 0
    for event in events:
        topic = config.topics.predictions if isinstance(event, Prediction) else config.topics.labels
        while True:
            try:
                producer.produce(
                    topic,
                    key=event.model_id.encode(),
                    value=event.model_dump_json().encode(),
                    timestamp=round(event.timestamp.timestamp() * 1000),
                    on_delivery=on_delivery,
                )
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        count += 1
    remaining = producer.flush(args.flush_timeout)
    if remaining or errors:
        print(
            f"driftline simulate: {len(errors)} delivery errors, {remaining} messages not delivered"
            + (f"; first error: {errors[0]}" if errors else ""),
            file=sys.stderr,
        )
        return -1
    return count


def start_ms_for(args: argparse.Namespace, now_ms: int) -> int | None:
    """Where simulated time starts (module docstring); None: the scenario's default.

    >>> args = argparse.Namespace(realtime=False, bootstrap_servers=None, config="d.yaml",
    ...                           samples=20_000, rate=50.0)
    >>> start_ms_for(args, now_ms=1_800_000_000_000)  # 400 s of predictions, ending now
    1799999600020
    >>> start_ms_for(argparse.Namespace(**{**vars(args), "config": None}), 1_800_000_000_000)
    """
    if args.realtime:
        return now_ms
    if (args.bootstrap_servers or args.config) and args.rate > 0:  # (rate <= 0: refused later)
        return now_ms - round(max(args.samples - 1, 0) * 1000.0 / args.rate)
    return None


def _handle(args: argparse.Namespace) -> int:
    start_ms = start_ms_for(args, round(time.time() * 1000))
    try:
        scenario = scenario_from_args(args, start_ms)
    except ValueError as exc:
        print(f"driftline simulate: {exc}", file=sys.stderr)
        return 2
    events: Iterable[Prediction | Label] = simulate(scenario, seed=args.seed)
    if args.realtime:
        events = with_progress(paced(events, args.speed),
                               scenario.samples * len(scenario.models), args.progress_every)
    if args.bootstrap_servers or args.config:
        produced = _produce(events, args)
        if produced < 0:
            return 1
        print(f"produced {produced} events", file=sys.stderr)
        return 0
    written = _write_jsonl(events, args.output)
    if args.output != "-":
        print(f"wrote {written} events to {args.output}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="simulated predictions and delayed labels with drift, as JSONL or to Kafka",
        description="Simulated predictions and delayed labels, with drift, written as JSON lines "
        "or produced to the predictions and labels topics of --config (or --bootstrap-servers). "
        "A drift is KIND:key=value,..., e.g. gradual:start=2000,width=800,concept_rotation=90.",
    )
    parser.add_argument("--models", default="model-0", help="comma-separated model ids")
    parser.add_argument("--samples", type=int, default=5000, help="predictions per model")
    parser.add_argument("--rate", type=float, default=50.0,
                        help="predictions per second per model (event time)")
    parser.add_argument(
        "--drift",
        type=parse_drift,
        action="append",
        metavar="KIND[:key=value,...]",
        help=f"add a drift; KIND is one of {', '.join(DRIFT_KINDS)}; "
        "fields: start, width, feature_shift, score_shift, concept_rotation, shifted_features "
        "(f0+f1); repeatable",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same events)")
    parser.add_argument("--model-version", default="v1", help="model_version of the predictions")
    parser.add_argument("--features", type=int, default=3, help="numeric features f0..fN-1")
    parser.add_argument("--segment", default=None, help="segment of every prediction")
    parser.add_argument("--label-noise", type=float, default=0.1,
                        help="fraction of labels flipped")
    parser.add_argument("--label-delay", type=float, default=60.0,
                        help="seconds from a prediction to its label")
    parser.add_argument("--label-delay-jitter", type=float, default=0.0,
                        help="extra random label delay, up to this many seconds")
    parser.add_argument("--label-coverage", type=float, default=1.0,
                        help="fraction of predictions that get a label")
    parser.add_argument("--output", "-o", default="-", help="JSONL file, '-' for stdout")
    parser.add_argument("--bootstrap-servers", help="produce to Kafka instead of writing JSONL")
    parser.add_argument("--config", metavar="FILE",
                        help="driftline.yaml: kafka properties and topic names; produce to Kafka")
    parser.add_argument(
        "--realtime", action="store_true",
        help="start simulated time now and pace the output at the event rate",
    )
    parser.add_argument("--speed", type=float, default=1.0,
                        help="with --realtime: how many times faster than real time")
    parser.add_argument("--progress-every", type=float, default=10.0, metavar="SECONDS",
                        help="with --realtime: a status line on stderr this often")
    parser.add_argument("--flush-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="how long to wait for a broker and for the last deliveries")
    parser.set_defaults(handler=_handle)
