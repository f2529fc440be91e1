"""Feature drift bench: delay and false alarms of every feature signal, beside two peers.

One command::

    .venv/bin/python bench/feature_drift.py            # full run (~15 min on 2 shared cores)
    .venv/bin/python bench/feature_drift.py --quick    # a smoke run (~2 min)
    .venv/bin/python bench/feature_drift.py --no-peers # Driftline only
    .venv/bin/python bench/feature_drift.py --peers-json bench/results/feature_drift.peers.json
        # Driftline, beside the peers' stored results (rerun some peers' scenarios with
        # feature_drift_peers.py --scenario NAME --update, see its docstring)

What it measures, at the default spec of every new detector (``detectors/*_drift.py``,
``rate_shift``, ``new_category``, ``data_quality``, ``joint_drift``, ``estimated_performance``)
and River's ADWIN (δ = 0.0002, the existing mean detector, reading each value clipped at the
running mean ± 6 sd as the monitor feeds it, :mod:`detectors.running_clip`):

1. **Drift scenarios** (``feature_drift_streams.DRIFT_SCENARIOS``, change at sample 3000; the
   correlation flip at 5000, past the joint signal's 4,000-prediction reference;
   ``--replicates`` seeded streams each): delay from the change to the first *published*
   firing of the feature's default signal set (the alert lifecycle: firings in a signal's first
   100 samples and within 1000 samples of its last published one are not published), how many
   streams were caught within 1,000 samples, false alarms before the change.
2. **Stationary streams** (numeric, categorical with 3/10/50 categories, booleans, a
   correlated 4-feature table): published firings per 100k samples, per signal.
3. **Spread candidates**: River's KSWIN and ADWIN on ``|x - reference mean|`` beside the
   shape detector, on the numeric scenarios and streams (how the shape detector was chosen).
4. **Peers** on the same streams, in the bench's own venv (``--peers-venv``, created and
   filled from PyPI by this script when missing; not a project dependency): Alibi Detect's
   online detectors (CVMDriftOnline for numbers, FETDriftOnline for 0/1 streams) and Frouros
   (IncrementalKSTest streaming; its ChiSquareTest on a sliding window for categories;
   MMDStreaming for the joint table).
5. **CPU per update** (``time.process_time``) of each detector beside River's ADWIN, one run.
6. **CBPE** (``feature_drift_cbpe.py``): estimated vs realized accuracy/F1 under covariate
   shift, and the lead over the realized metric with labels one hour late.

Writes ``bench/results/feature_drift.json`` and ``bench/results/feature_drift.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from river import drift

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from bench_env import machine as bench_machine  # noqa: E402
from bench_env import venv_python  # noqa: E402
from feature_drift_cbpe import run_cbpe  # noqa: E402
from feature_drift_streams import (  # noqa: E402
    CHANGE,
    DRIFT_SCENARIOS,
    HORIZON,
    JOINT_CHANGE,
    STATIONARY_STREAMS,
    change_of,
)

from detectors.category_drift import CategoryDriftDetector, CategoryDriftSpec  # noqa: E402
from detectors.data_quality import (  # noqa: E402
    MissingRateDetector,
    MissingRateSpec,
    TypeChangeDetector,
    TypeChangeSpec,
)
from detectors.estimated_performance import CBPESpec, EstimatedPerformance  # noqa: E402
from detectors.joint_drift import JointDriftDetector, JointDriftSpec  # noqa: E402
from detectors.new_category import NewCategoryDetector, NewCategorySpec  # noqa: E402
from detectors.river_detectors import ADWINSpec  # noqa: E402
from detectors.running_clip import clip_for  # noqa: E402
from detectors.shape_drift import ShapeDriftDetector, ShapeDriftSpec  # noqa: E402

WARMUP = 100
COOLDOWN = 1000
#: Streams per drift scenario that also run the spread candidates (KSWIN is slow).
CANDIDATE_STREAMS = 5
PEER_PACKAGES = ["frouros==0.9.0", "alibi-detect==0.13.0"]
DEFAULT_PEERS_VENV = Path.home() / ".cache" / "driftline" / "bench-peers-venv"


# -- signals: one adapter per (feature, detector), fed the raw value ------------------------


class Signal:
    """A detector on one feature with the alert lifecycle's warm-up and cooldown."""

    def __init__(
        self, name: str, feed: Callable[[Any], bool], accepts: Callable[[Any], bool]
    ) -> None:
        self.name = name
        self.feed = feed
        self.accepts = accepts
        self.n = 0
        self.quiet_until = -1
        self.published: list[int] = []

    def step(self, index: int, value: Any) -> None:
        if not self.accepts(value):
            return
        self.n += 1
        if self.feed(value) and self.n > WARMUP and index > self.quiet_until:
            self.published.append(index)
            self.quiet_until = index + COOLDOWN


def _is_number(v: Any) -> bool:
    return v.__class__ is float or v.__class__ is int


def _present(v: Any) -> bool:
    return v is not None


def _any(v: Any) -> bool:
    return True


def _river(detector: Any) -> Callable[[Any], bool]:
    def feed(x: Any) -> bool:
        detector.update(x)
        return bool(detector.drift_detected)

    return feed


def _mean_adwin() -> Callable[[Any], bool]:
    """The feature mean detector as the monitor runs it: River's ADWIN (δ = 0.0002) reading
    each value clipped at the running mean ± 6 sd (:mod:`detectors.running_clip`), the clip
    restarted when ADWIN fires (as :meth:`~detectors.lifecycle.Watcher.on_drift` does)."""
    adwin = drift.ADWIN(delta=0.0002)
    clip = clip_for("feature:x", ADWINSpec(delta=0.0002))
    assert clip is not None

    def feed(x: float) -> bool:
        adwin.update(clip.clip(x))
        if adwin.drift_detected:
            clip.restart()
            return True
        return False

    return feed


def _abs_deviation_adwin() -> Callable[[Any], bool]:
    """ADWIN on |x - mean of the first 1000 values| (a spread candidate)."""
    adwin = drift.ADWIN(delta=0.0002)
    state = {"n": 0, "sum": 0.0}

    def feed(x: float) -> bool:
        if state["n"] < 1000:
            state["n"] += 1
            state["sum"] += x
            return False
        adwin.update(abs(x - state["sum"] / 1000))
        return bool(adwin.drift_detected)

    return feed


def feature_signals(kind: str, feature: str, candidates: bool) -> list[Signal]:
    """The default signal set of one feature of ``kind`` (plus the spread candidates)."""
    out: list[Signal] = []
    if kind in ("numeric", "joint"):
        out.append(Signal("mean (ADWIN)", _mean_adwin(), _is_number))
        out.append(Signal("shape", ShapeDriftDetector(ShapeDriftSpec()).update, _is_number))
    else:
        out.append(
            Signal("categories", CategoryDriftDetector(CategoryDriftSpec()).update, _present)
        )
        if kind == "categorical":
            out.append(
                Signal("new category", NewCategoryDetector(NewCategorySpec()).update, _present)
            )
    out.append(Signal("missing", MissingRateDetector(MissingRateSpec()).update, _any))
    out.append(Signal("type", TypeChangeDetector(TypeChangeSpec()).update, _any))
    if candidates and kind == "numeric":
        out.append(Signal("cand: KSWIN (River default)", _river(drift.KSWIN(seed=42)), _is_number))
        out.append(Signal("cand: ADWIN |x - ref mean|", _abs_deviation_adwin(), _is_number))
    for s in out:
        s.name = f"{feature}: {s.name}" if kind == "joint" else s.name
    return out


def run_stream(kind: str, stream: dict[str, list[Any]], candidates: bool) -> dict[str, list[int]]:
    """Published firing indices per signal."""
    signals: list[tuple[str, Signal]] = []
    for feature in stream:
        signals += [(feature, s) for s in feature_signals(kind, feature, candidates)]
    joint = None
    if kind == "joint":
        joint_detector = JointDriftDetector(JointDriftSpec())
        joint = Signal("joint", joint_detector.update, _any)
    columns = list(stream.items())
    n = len(columns[0][1])
    for i in range(n):
        for feature, signal in signals:
            signal.step(i, stream[feature][i])
        if joint is not None:
            joint.step(i, {name: values[i] for name, values in columns})
    out = {s.name: s.published for _, s in signals}
    if joint is not None:
        out["joint"] = joint.published
    return out


def _is_default(signal: str) -> bool:
    return "cand: " not in signal


# -- 1. drift scenarios ----------------------------------------------------------------------


def drift_results(replicates: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for s, (scenario, (kind, make)) in enumerate(DRIFT_SCENARIOS.items()):
        runs = []
        for r in range(replicates):
            # River's KSWIN costs ~0.3 ms per update: the candidates run on the first streams only
            fired = run_stream(kind, make(1000 * s + r), candidates=r < CANDIDATE_STREAMS)
            runs.append(fired)
        results[scenario] = summarise_drift(runs, replicates, change_of(scenario))
        print(f"  {scenario}: {results[scenario]['default']}", flush=True)
    return results


def summarise_drift(
    runs: list[dict[str, list[int]]], replicates: int, change: int
) -> dict[str, Any]:
    """Per signal and for the default set: delays from ``change``, caught within 1000, false
    alarms before it."""
    per_signal: dict[str, Any] = {}
    default_delays: list[int | None] = []
    first_by: dict[str, int] = {}
    false_alarms = 0
    for fired in runs:
        best: tuple[int, str] | None = None
        for signal, indices in fired.items():
            after = [i - change for i in indices if i >= change]
            before = [i for i in indices if i < change]
            entry = per_signal.setdefault(signal, {"delays": [], "false_alarms": 0})
            entry["delays"].append(after[0] if after else None)
            entry["false_alarms"] += len(before)
            if _is_default(signal):
                false_alarms += len(before)
                if after and (best is None or after[0] < best[0]):
                    best = (after[0], signal)
        default_delays.append(best[0] if best else None)
        if best:
            first_by[best[1]] = first_by.get(best[1], 0) + 1
    for entry in per_signal.values():
        streams = len(entry["delays"])
        entry.update(_delay_stats(entry["delays"], streams))
        entry["false_alarms_per_100k"] = entry["false_alarms"] * 100_000 / (streams * change)
    default = _delay_stats(default_delays, replicates)
    default["false_alarms_before_change"] = false_alarms
    default["first_signal"] = first_by
    default["change_at"] = change
    return {"default": default, "signals": per_signal}


def _delay_stats(delays: list[int | None], replicates: int) -> dict[str, Any]:
    caught = [d for d in delays if d is not None and d < 1000]
    seen = [d for d in delays if d is not None]
    return {
        "caught_within_1000": len(caught),
        "replicates": replicates,
        "median_delay": statistics.median(seen) if seen else None,
        "max_delay": max(seen) if seen else None,
        "missed_in_horizon": replicates - len(seen),
    }


# -- 2. stationary streams -------------------------------------------------------------------


def stationary_results(replicates: int, samples: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for s, (name, (kind, make)) in enumerate(STATIONARY_STREAMS.items()):
        counts: dict[str, list[int]] = {}
        for r in range(replicates):
            fired = run_stream(kind, make(500_000 + 1000 * s + r, samples), candidates=r == 0)
            for signal, indices in fired.items():
                counts.setdefault(signal, []).append(len(indices))
        results[name] = {
            signal: {
                "false_alarms": sum(c),
                "per_100k": sum(c) * 100_000 / (len(c) * samples),
                "samples": len(c) * samples,
                "max_in_one_stream": max(c),
            }
            for signal, c in counts.items()
        }
        worst = max((v["per_100k"], k) for k, v in results[name].items() if _is_default(k))
        print(f"  {name}: worst default signal {worst[1]} {worst[0]:.2f}/100k", flush=True)
    return {"replicates": replicates, "samples": samples, "streams": results}


# -- 5. CPU per update -----------------------------------------------------------------------


def cpu_per_update(n: int) -> dict[str, Any]:
    rng = np.random.default_rng(7)
    numbers = [float(x) for x in rng.normal(0, 1, n)]
    cats = [
        f"c{i}"
        for i in rng.choice(
            10,
            n,
            p=np.array([1 / (i + 1) for i in range(10)]) / sum(1 / (i + 1) for i in range(10)),
        )
    ]
    rows = [dict(zip("abcd", map(float, r), strict=True)) for r in rng.standard_normal((n, 4))]
    scores = [float(x) for x in rng.random(n)]
    cases: dict[str, tuple[Callable[[Any], Any], list[Any]]] = {
        "River ADWIN (delta=0.0002), numeric": (_river(drift.ADWIN(delta=0.0002)), numbers),
        "mean (ADWIN on the clipped value), numeric": (_mean_adwin(), numbers),
        "River KSWIN (default), numeric": (_river(drift.KSWIN(seed=42)), numbers),
        "shape_drift, numeric": (ShapeDriftDetector(ShapeDriftSpec()).update, numbers),
        "category_drift, 10 categories": (CategoryDriftDetector(CategoryDriftSpec()).update, cats),
        "new_category, 10 categories": (NewCategoryDetector(NewCategorySpec()).update, cats),
        "missing_rate": (MissingRateDetector(MissingRateSpec()).update, numbers),
        "type_change": (TypeChangeDetector(TypeChangeSpec()).update, numbers),
        "joint_drift, 4 features (per row)": (JointDriftDetector(JointDriftSpec()).update, rows),
    }
    cbpe = EstimatedPerformance(CBPESpec())
    cases["cbpe (per prediction)"] = (lambda s: cbpe.update(s, s >= 0.5), scores)
    out: dict[str, Any] = {}
    for name, (feed, values) in cases.items():
        start = time.process_time()
        for v in values:
            feed(v)
        out[name] = {"ns_per_update": (time.process_time() - start) / len(values) * 1e9}
    base = out["River ADWIN (delta=0.0002), numeric"]["ns_per_update"]
    for entry in out.values():
        entry["ratio_to_adwin"] = entry["ns_per_update"] / base
    return {"updates": n, "cases": out}


# -- 4. peers ----------------------------------------------------------------------------------


def ensure_peers_venv(venv: Path) -> Path:
    return venv_python(venv, PEER_PACKAGES)


def peer_results(venv: Path, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    python = ensure_peers_venv(venv)
    command = [
        str(python),
        str(BENCH / "feature_drift_peers.py"),
        "--replicates",
        str(args.peer_replicates),
        "--samples",
        str(args.peer_samples),
        "--stationary-replicates",
        str(args.peer_stationary_replicates),
        "--output",
        str(out),
    ]
    env = dict(os.environ, PYTHONWARNINGS="ignore", TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run(command, check=True, env=env)
    return json.loads(out.read_text())


# -- report ------------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    return {**bench_machine(), "numpy": np.__version__, "platform": platform.platform()}


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}" if value < 100 else f"{value:.0f}"
    return str(value)


def _delay_cell(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "n/a"
    cell = (
        f"{stats['caught_within_1000']}/{stats['replicates']} · "
        f"{_fmt(stats['median_delay'])} ({_fmt(stats['max_delay'])})"
    )
    if "false_alarms_before_change" in stats:
        cell += f" · FA {stats['false_alarms_before_change']}"
    return cell


def markdown(report: dict[str, Any]) -> str:
    lines = ["# Feature drift bench", ""]
    m = report["machine"]
    lines.append(
        f"Machine: {m['cpu']}, {m['cores']} cores; Python {m['python']}, numpy {m['numpy']}, "
        f"River {m['river']}. Command: `{report['command']}`; wall {report['wall_s']:.0f} s."
    )
    lines += [
        "",
        f"## Drift scenarios (change at sample {report['change_at']}, the correlation flip at "
        f"{report.get('joint_change_at', report['change_at'])}; delay in samples after it)",
        "",
    ]
    lines.append(
        "Cell: streams caught within 1,000 samples / streams · median delay (max) · published false "
        "alarms before the change, all streams together. Driftline = the "
        "first published firing among the feature's default signals (which one: *first signal*). "
        "Peers: their own detector for that data type (see the peers section)."
    )
    peers = report.get("peers", {}).get("drift", {})
    peer_methods = sorted({method for per in peers.values() for method in per})
    header = [
        "scenario",
        "Driftline",
        "first signal",
        *peer_methods,
    ]
    lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for scenario, res in report["drift"].items():
        d = res["default"]
        first = ", ".join(
            f"{k} ×{v}" for k, v in sorted(d["first_signal"].items(), key=lambda kv: -kv[1])
        )
        row = [scenario, _delay_cell(d), first or "–"]
        row += [_delay_cell(peers.get(scenario, {}).get(method)) for method in peer_methods]
        lines.append("| " + " | ".join(row) + " |")
    st = report["stationary"]
    lines += [
        "",
        f"## Stationary streams: published false alarms per 100k samples ({st['replicates']} × {st['samples']:,} samples each)",
        "",
        "| stream | signal | false alarms | samples | per 100k |",
        "|---|---|---|---|---|",
    ]
    for stream, signals in st["streams"].items():
        for signal, v in signals.items():
            if _is_default(signal):
                lines.append(
                    f"| {stream} | {signal} | {v['false_alarms']} | {v['samples']:,} | {v['per_100k']:.2f} |"
                )
    peer_st = report.get("peers", {}).get("stationary", {})
    if peer_st:
        lines += [
            "",
            "### Peers on the same stationary streams",
            "",
            "| stream | method | false alarms | per 100k | samples |",
            "|---|---|---|---|---|",
        ]
        for stream, methods in peer_st.items():
            for method, v in methods.items():
                lines.append(
                    f"| {stream} | {method} | {v['false_alarms']} | {v['per_100k']:.2f} | {v['samples']:,} |"
                )
    lines += ["", "## Spread candidates (how the shape detector was chosen)", ""]
    lines += [
        "| scenario | shape (chosen) | KSWIN (River default) | ADWIN on abs(x - ref mean) |",
        "|---|---|---|---|",
    ]
    for scenario, res in report["drift"].items():
        sig = res["signals"]
        if "shape" not in sig:
            continue
        cells = [
            _delay_cell(sig.get(k))
            for k in ("shape", "cand: KSWIN (River default)", "cand: ADWIN |x - ref mean|")
        ]
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    for stream, signals in st["streams"].items():
        if "shape" in signals:
            cells = [
                f"{signals[k]['per_100k']:.2f}/100k ({signals[k]['samples']:,} samples)"
                for k in ("shape", "cand: KSWIN (River default)", "cand: ADWIN |x - ref mean|")
            ]
            lines.append(f"| stationary {stream} (false alarms) | " + " | ".join(cells) + " |")
    cpu = report["cpu"]
    lines += [
        "",
        f"## CPU per update ({cpu['updates']:,} updates each, `time.process_time`, one run)",
        "",
    ]
    lines += ["| detector | ns per update | × River ADWIN |", "|---|---|---|"]
    for name, v in cpu["cases"].items():
        lines.append(f"| {name} | {v['ns_per_update']:.0f} | {v['ratio_to_adwin']:.2f} |")
    peer_cpu = report.get("peers", {}).get("cpu", {})
    for name, v in peer_cpu.items():
        lines.append(
            f"| peer: {name} | {v['ns_per_update']:.0f} | {v['ns_per_update'] / cpu['cases']['River ADWIN (delta=0.0002), numeric']['ns_per_update']:.2f} |"
        )
    cb = report.get("cbpe")
    if cb:
        lines += ["", "## CBPE (estimated vs realized performance)", "", cb["markdown"]]
    if report.get("peers"):
        lines += ["", "## Peers", "", report["peers"].get("description", "")]
        if report.get("peers_from"):
            rerun = report["peers"].get("rerun_alone", [])
            lines += [
                "",
                f"Peer results read from `{report['peers_from']}` (not rerun with this command)"
                + (
                    "; these drift scenarios were rerun alone after a change to their stream "
                    "(`feature_drift_peers.py --scenario NAME --update`): "
                    + ", ".join(rerun)
                    if rerun
                    else ""
                )
                + ".",
            ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few replicates, short streams")
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--stationary-replicates", type=int, default=5)
    parser.add_argument("--stationary-samples", type=int, default=100_000)
    parser.add_argument("--peer-replicates", type=int, default=5)
    parser.add_argument("--peer-samples", type=int, default=100_000)
    parser.add_argument("--peer-stationary-replicates", type=int, default=1)
    parser.add_argument("--cpu-updates", type=int, default=100_000)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--peers-json", type=Path, default=None,
                        help="show these stored peer results instead of running the peers")
    parser.add_argument("--peers-venv", type=Path, default=DEFAULT_PEERS_VENV)
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "feature_drift")
    parser.add_argument("--render", action="store_true",
                        help="only rewrite the .md from the .json (with --peers-json: its peers)")
    args = parser.parse_args(argv)
    if args.render:
        stored = json.loads(args.output.with_suffix(".json").read_text())
        if args.peers_json is not None:
            stored["peers"] = json.loads(args.peers_json.read_text())
            stored["peers_from"] = str(args.peers_json)
            args.output.with_suffix(".json").write_text(
                json.dumps(stored, indent=1, default=str) + "\n")
        args.output.with_suffix(".md").write_text(markdown(stored))
        return 0
    if args.quick:
        args.replicates, args.stationary_replicates, args.stationary_samples = 3, 1, 20_000
        args.peer_replicates, args.peer_samples, args.cpu_updates = 2, 10_000, 20_000
    wall = time.time()
    report: dict[str, Any] = {
        "command": "python bench/feature_drift.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "defaults": {
            "shape_drift": ShapeDriftSpec().model_dump(),
            "category_drift": CategoryDriftSpec().model_dump(),
            "new_category": NewCategorySpec().model_dump(),
            "missing_rate": MissingRateSpec().model_dump(),
            "type_change": TypeChangeSpec().model_dump(),
            "joint_drift": JointDriftSpec().model_dump(),
            "cbpe": CBPESpec().model_dump(),
            "adwin_delta": 0.0002,
            "lifecycle": {"warmup": WARMUP, "cooldown": COOLDOWN},
        },
        "change_at": CHANGE,
        "joint_change_at": JOINT_CHANGE,
        "horizon": HORIZON,
    }
    print("cpu per update ...", flush=True)
    report["cpu"] = cpu_per_update(args.cpu_updates)
    print("drift scenarios ...", flush=True)
    report["drift"] = drift_results(args.replicates)
    print("stationary streams ...", flush=True)
    report["stationary"] = stationary_results(args.stationary_replicates, args.stationary_samples)
    print("cbpe ...", flush=True)
    report["cbpe"] = run_cbpe(seed=3, quick=args.quick)
    if args.peers_json is not None:
        report["peers"] = json.loads(args.peers_json.read_text())
        report["peers_from"] = str(args.peers_json)
    elif not args.no_peers:
        print("peers ...", flush=True)
        report["peers"] = peer_results(
            args.peers_venv, args, args.output.with_suffix(".peers.json")
        )
    report["wall_s"] = time.time() - wall
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    args.output.with_suffix(".md").write_text(markdown(report))
    print(f"wrote {args.output.with_suffix('.json')} and {args.output.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
