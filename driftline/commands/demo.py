"""``driftline demo``: the closed loop on a local Kafka (see :mod:`driftline.dev.demo`).

Exit code 0 when the loop closed (a drift was detected and a retrained model was served), 1
otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def _handle(args: argparse.Namespace) -> int:
    from driftline.dev.demo import run_demo

    result = run_demo(
        bootstrap=args.bootstrap_servers,
        samples=args.samples,
        drift_at=args.drift_at,
        rate=args.rate,
        label_delay=args.label_delay,
        plot=Path(args.plot),
        workdir=Path(args.workdir) if args.workdir else None,
        seed=args.seed,
    )
    if not result.detections or not result.swaps:
        print("driftline demo: the loop did not close (no detection or no promoted retrain)",
              file=sys.stderr)
        return 1
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo", help="closed loop on a local Kafka: serve, drift, detect, retrain, hot-swap, plot")
    parser.add_argument("--bootstrap-servers", help="use this Kafka instead of starting one")
    parser.add_argument("--samples", type=int, default=6000, help="predictions to serve")
    parser.add_argument("--drift-at", type=int, default=2000, help="prediction where drift hits")
    parser.add_argument("--rate", type=float, default=100.0, help="predictions per second")
    parser.add_argument("--label-delay", type=int, default=50, help="in predictions")
    parser.add_argument("--plot", default="driftline-demo.png", help="PNG to write")
    parser.add_argument("--workdir", help="config, logs and model registry (default: a temp dir)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same run)")
    parser.set_defaults(handler=_handle)
