"""``driftline calibrate``: detector thresholds for a target mean time between false alarms.

``driftline calibrate --reference ref.jsonl --ert 10000 --output calibrated.yaml``
reads a reference (no-drift) JSONL stream and chooses per (model, signal) a threshold such that
the model's false alarms, all its signals together, are at most one per ``--ert`` of its
samples (as Alibi Detect calibrates its expected run time): walking from the least sensitive
threshold toward more sensitive ones while a bootstrap of the reference shows the target met
with 80% confidence, and keeping the last that did. It writes a YAML file with a
``detection:`` section and reports the held-out false-alarm rate and the detection delay on a
synthetic shift, and warns when a signal's target was not met even by the least sensitive
threshold or is rarer than its reference can represent (with the reference length it needs).
The work is :mod:`detectors.calibration`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _handle(args: argparse.Namespace) -> int:
    import yaml
    from tqdm import tqdm

    from detectors.calibration import calibrate
    from driftline.config import load

    # The one loader: the file's detection section and DRIFTLINE_DETECTION__… overrides; a
    # ConfigError ends the command with exit 2 (driftline.cli).
    base = load(args.config).detection
    if args.runs < 2:
        print(f"error: --runs {args.runs}: at least 2 runs are needed to bound a false-alarm "
              "rate (0 alarms in 2 targets' worth of samples is the least evidence that does)",
              file=sys.stderr)
        return 2
    try:
        lines = Path(args.reference).read_bytes().splitlines()
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with tqdm(desc="calibrate", unit=" signals", disable=None) as bar:

        def progress(label: str) -> None:
            bar.set_postfix_str(label)
            bar.update(1)

        config, results = calibrate(
            lines,
            ert=args.ert,
            base=base,
            runs=args.runs,
            seed=args.seed,
            shift_std=args.shift_std,
            shift_rate=args.shift_rate,
            progress=progress,
        )
    document = {"detection": config.model_dump(mode="json", exclude_none=True)}
    header = (
        f"# written by driftline calibrate: target mean time between false alarms {args.ert:g}"
        f" samples, reference {args.reference}\n"
    )
    Path(args.output).write_text(header + yaml.safe_dump(document, sort_keys=False))
    print(
        f"target mean time between false alarms: {args.ert:g} samples per model, all its "
        f"signals together (each signal's share below; bootstrap {args.runs} x its target per "
        f"candidate)",
        file=sys.stderr,
    )
    for r in results:
        print(r.render(), file=sys.stderr)
    for r in results:
        for warning in r.warnings():
            print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "calibrate", help="choose detector thresholds from a no-drift reference stream"
    )
    parser.add_argument("--reference", required=True, help="reference (no-drift) JSONL events")
    parser.add_argument(
        "--ert",
        type=float,
        default=10_000.0,
        help="target mean time between false alarms of a model, all its signals together, in "
        "its samples",
    )
    parser.add_argument("--output", required=True, help="YAML file to write (detection: section)")
    parser.add_argument("--config", help="base driftline.yaml; its detection section (with "
                        "DRIFTLINE_DETECTION__… overrides) is extended")
    parser.add_argument("--runs", type=int, default=5,
                        help="bootstrap length per candidate threshold, in units of each "
                        "signal's target (at least 2)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run)")
    parser.add_argument(
        "--shift-std",
        type=float,
        default=1.0,
        help="synthetic shift of numeric signals, in standard deviations",
    )
    parser.add_argument(
        "--shift-rate", type=float, default=0.3, help="synthetic rise of the error rate"
    )
    parser.set_defaults(handler=_handle)
