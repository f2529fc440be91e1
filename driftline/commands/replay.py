"""``driftline replay``: run the detection pipeline over a JSONL file of events, no Kafka.

``driftline replay --input events.jsonl --output drift.jsonl [--config driftline.yaml]``
validates, joins and detects exactly as the consumer does (``source.offset`` is the 0-based line
number), reports invalid lines with their number and reason, and prints a summary at the end.
With ``--report report.html`` it then writes a self-contained HTML backtest report (per model:
signals, detector statistics, detections; :mod:`detectors.report`) in a second pass, so the
replay itself does no extra work for it; that pass says on stderr that it runs (a line every
10 s). The work is :mod:`detectors.replay`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

#: Invalid lines printed one by one before the rest are only counted.
MAX_PRINTED = 50


def _handle(args: argparse.Namespace) -> int:
    from detectors.replay import replay_file
    from driftline.config import load

    # The one loader: the file's detection and field_mapping sections and DRIFTLINE_…
    # overrides; a ConfigError ends the command with exit 2 (driftline.cli).
    loaded = load(args.config)
    config, mapping = loaded.detection, loaded.field_mapping
    printed = 0

    def on_invalid(line: int, rejection: Any) -> None:
        nonlocal printed
        if rejection.stage not in ("deserialize", "validate"):
            return  # join/process rejections are counted in the summary
        if printed < MAX_PRINTED:
            print(
                f"line {line}: {rejection.stage}: {rejection.error_class}: {rejection.message}",
                file=sys.stderr,
            )
        elif printed == MAX_PRINTED:
            print("... further rejected lines are counted in the summary", file=sys.stderr)
        printed += 1

    try:
        summary = replay_file(
            args.input,
            args.output,
            config=config,
            labelled_path=args.labelled,
            on_invalid=on_invalid,
            field_mapping=mapping,
            show_progress=None if not args.no_progress else False,
        )
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary.render(), file=sys.stderr)
    if args.report:
        from pathlib import Path

        from detectors.contracts import DriftEvent
        from detectors.report import write_report
        from driftline.progress import Heartbeat

        with Path(args.output).open(encoding="utf-8") as drift_lines:
            events = [DriftEvent.model_validate_json(line) for line in drift_lines]
        try:
            with Heartbeat(f"writing the report {args.report} (a second pass over {args.input})"):
                write_report(args.input, events, args.report, config)
        except OSError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(f"wrote report {args.report}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay", help="run drift detection over a JSONL file of prediction and label events"
    )
    parser.add_argument("--input", required=True, help="JSONL file of prediction/label events")
    parser.add_argument("--output", required=True, help="JSONL file to write drift events to")
    parser.add_argument("--config", help="driftline.yaml; its detection and field_mapping "
                        "sections are used, with DRIFTLINE_… overrides")
    parser.add_argument("--labelled", help="also write joined (labelled) records to this JSONL")
    parser.add_argument("--no-progress", action="store_true", help="never show a progress bar")
    parser.add_argument(
        "--report",
        metavar="HTML",
        help="also write a self-contained HTML report (signals, detector statistics, detections)",
    )
    parser.set_defaults(handler=_handle)
