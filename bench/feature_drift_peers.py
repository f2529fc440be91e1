"""Peers' published detectors on bench/feature_drift.py's streams (runs in the peers' venv).

Started by ``bench/feature_drift.py`` with the venv it creates (frouros, alibi-detect from
PyPI); not importable from the project. Every method gets the stream's first 1,000 values as
its reference and the same alert lifecycle as Driftline's signals (a firing within 1,000
samples of the last published one is not published).

* Alibi Detect ``CVMDriftOnline`` (numbers) and ``FETDriftOnline`` (0/1 streams): online,
  thresholds configured by simulation for an expected run time ``ert``. Configuring costs
  minutes per reference here, so each is configured once per stream *type* on a seeded draw of
  that type's pre-change distribution (statistically the same as the stream's own first
  1,000 values) and ``reset_state()`` between streams.
* Frouros ``IncrementalKSTest`` (streaming KS, window 500; it returns p-values, the threshold
  is the user's): fired at p < ALPHA_KS. Frouros ``ChiSquareTest`` (batch, scipy's
  ``chi2_contingency``) on a sliding window of 500 every 50 samples, the way Evidently and
  NannyML run windowed chi-square tests: fired at p < ALPHA_CHI2. Both alphas are the same
  false-alarm budget as Driftline's (0.5 per 100k samples by a union bound); the common
  α = 0.01 is reported for the stationary streams too.

``--scenario NAME --update`` (repeatable) reruns only those drift scenarios (same seeds) and
writes them into the existing ``--output``, keeping every other result there.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feature_drift_streams import DRIFT_SCENARIOS, STATIONARY_STREAMS, change_of

warnings.filterwarnings("ignore")

REFERENCE = 1000
WINDOW = 500
STRIDE = 50
COOLDOWN = 1000
ALPHA_KS = 0.5 / 100_000
ALPHA_CHI2 = 0.5 * STRIDE / 100_000
ALPHA_COMMON = 0.01
ERT = 10_000
N_BOOTSTRAPS = 30_000
CVM_WINDOWS = [100]
FET_WINDOWS = [100]


def publish(alarms: list[int]) -> list[int]:
    out: list[int] = []
    for i in alarms:
        if not out or i > out[-1] + COOLDOWN:
            out.append(i)
    return out


# -- method runners: (stream values) -> published firing indices -----------------------------


def frouros_ks(values: list[Any], alphas: tuple[float, ...]) -> dict[float, list[int]]:
    from frouros.detectors.data_drift import IncrementalKSTest

    xs = [(i, v) for i, v in enumerate(values) if v is not None]
    ref = np.array([v for _, v in xs[:REFERENCE]], dtype=float)
    detector = IncrementalKSTest(window_size=WINDOW)
    detector.fit(X=ref)
    alarms: dict[float, list[int]] = {a: [] for a in alphas}
    for i, v in xs[REFERENCE:]:
        test, _ = detector.update(value=v)
        if test is not None:
            for a in alphas:
                if test.p_value < a:
                    alarms[a].append(i)
    return {a: publish(al) for a, al in alarms.items()}


def frouros_chi2(values: list[Any], alphas: tuple[float, ...]) -> dict[float, list[int]]:
    from frouros.detectors.data_drift import ChiSquareTest

    xs = [(i, str(v)) for i, v in enumerate(values) if v is not None]
    detector = ChiSquareTest()
    detector.fit(X=np.array([v for _, v in xs[:REFERENCE]], dtype=object))
    alarms: dict[float, list[int]] = {a: [] for a in alphas}
    rest = xs[REFERENCE:]
    for k in range(WINDOW, len(rest) + 1, STRIDE):
        window = np.array([v for _, v in rest[k - WINDOW : k]], dtype=object)
        result, _ = detector.compare(X=window)
        for a in alphas:
            if result.p_value < a:
                alarms[a].append(rest[k - 1][0])
    return {a: publish(al) for a, al in alarms.items()}


class AlibiOnline:
    """One configured Alibi Detect online detector, reused across streams of one type."""

    def __init__(self, kind: str, reference: np.ndarray) -> None:
        from alibi_detect.cd import CVMDriftOnline, FETDriftOnline

        start = time.process_time()
        if kind == "cvm":
            self.detector = CVMDriftOnline(
                reference,
                ert=ERT,
                window_sizes=CVM_WINDOWS,
                n_bootstraps=N_BOOTSTRAPS,
                verbose=False,
            )
        else:
            self.detector = FETDriftOnline(
                reference,
                ert=ERT,
                window_sizes=FET_WINDOWS,
                n_bootstraps=N_BOOTSTRAPS,
                verbose=False,
            )
        self.kind = kind
        self.config_cpu_s = time.process_time() - start

    def run(self, values: list[Any], start: int = REFERENCE) -> list[int]:
        self.detector.reset_state()
        alarms = []
        for i in range(start, len(values)):
            v = values[i]
            if v is None and self.kind == "cvm":
                continue
            if self.detector.predict(np.array([float(v)]))["data"]["is_drift"]:
                alarms.append(i)
                self.detector.reset_state()
        return publish(alarms)


def _summary(delays: list[int | None], replicates: int) -> dict[str, Any]:
    seen = [d for d in delays if d is not None]
    return {
        "caught_within_1000": sum(1 for d in seen if d < 1000),
        "replicates": replicates,
        "median_delay": float(np.median(seen)) if seen else None,
        "max_delay": max(seen) if seen else None,
        "missed_in_horizon": replicates - len(seen),
    }


def drift(replicates: int, cvm: AlibiOnline, only: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s, (scenario, (kind, make)) in enumerate(DRIFT_SCENARIOS.items()):
        if only and scenario not in only:
            continue
        delays: dict[str, list[int | None]] = {}
        false_alarms: dict[str, int] = {}
        for r in range(replicates):
            stream = make(1000 * s + r)
            per_method: dict[str, list[int]] = {}
            for _feature, values in stream.items():
                if kind in ("numeric", "joint"):
                    fired = frouros_ks(values, (ALPHA_KS,))[ALPHA_KS]
                    per_method.setdefault("Frouros IncrementalKSTest", []).extend(fired)
                    per_method.setdefault(f"Alibi CVMDriftOnline (ert {ERT})", []).extend(
                        cvm.run(values)
                    )
                else:
                    fired = frouros_chi2(values, (ALPHA_CHI2,))[ALPHA_CHI2]
                    per_method.setdefault("Frouros ChiSquareTest (window)", []).extend(fired)
            change = change_of(scenario)
            for method, fired in per_method.items():
                after = sorted(i - change for i in fired if i >= change)
                delays.setdefault(method, []).append(after[0] if after else None)
                false_alarms[method] = false_alarms.get(method, 0) + sum(
                    1 for i in fired if i < change
                )
        out[scenario] = {
            m: {**_summary(d, replicates), "false_alarms_before_change": false_alarms[m]}
            for m, d in delays.items()
        }
        print(
            f"  peers {scenario}: "
            + "; ".join(
                f"{m} {v['caught_within_1000']}/{replicates}" for m, v in out[scenario].items()
            ),
            flush=True,
        )
    return out


def stationary(replicates: int, samples: int, cvm: AlibiOnline) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fet: dict[float, AlibiOnline] = {}
    for s, (name, (kind, make)) in enumerate(STATIONARY_STREAMS.items()):
        counts: dict[str, list[int]] = {}
        for r in range(replicates):
            stream = make(500_000 + 1000 * s + r, samples)
            for _feature, values in stream.items():
                if kind in ("numeric", "joint"):
                    fired = frouros_ks(values, (ALPHA_KS, ALPHA_COMMON))
                    counts.setdefault("Frouros IncrementalKSTest (matched alpha)", []).append(
                        len(fired[ALPHA_KS])
                    )
                    counts.setdefault("Frouros IncrementalKSTest (alpha 0.01)", []).append(
                        len(fired[ALPHA_COMMON])
                    )
                    if name == "numeric N(0,1)" or kind == "joint":
                        counts.setdefault(f"Alibi CVMDriftOnline (ert {ERT})", []).append(
                            len(cvm.run(values))
                        )
                else:
                    fired = frouros_chi2(values, (ALPHA_CHI2, ALPHA_COMMON))
                    counts.setdefault("Frouros ChiSquareTest window (matched alpha)", []).append(
                        len(fired[ALPHA_CHI2])
                    )
                    counts.setdefault("Frouros ChiSquareTest window (alpha 0.01)", []).append(
                        len(fired[ALPHA_COMMON])
                    )
                    if kind == "boolean":
                        p = 0.5 if "0.5" in name else 0.05
                        if p not in fet:
                            ref = (np.random.default_rng(99).random(REFERENCE) < p).astype(float)
                            fet[p] = AlibiOnline("fet", ref)
                        counts.setdefault(f"Alibi FETDriftOnline (ert {ERT})", []).append(
                            len(fet[p].run([float(v) for v in values]))
                        )
        out[name] = {
            m: {
                "false_alarms": sum(c),
                "per_100k": sum(c) * 100_000 / (len(c) * samples),
                "samples": len(c) * samples,
                "streams": len(c),
            }
            for m, c in counts.items()
        }
        print(
            f"  peers stationary {name}: "
            + "; ".join(f"{m} {v['per_100k']:.1f}" for m, v in out[name].items()),
            flush=True,
        )
    return out


def cpu(cvm: AlibiOnline) -> dict[str, Any]:
    from frouros.detectors.data_drift import IncrementalKSTest

    rng = np.random.default_rng(7)
    values = rng.normal(0, 1, 3000)
    ks = IncrementalKSTest(window_size=WINDOW)
    ks.fit(X=values[:REFERENCE])
    start = time.process_time()
    for v in values[REFERENCE:]:
        ks.update(value=float(v))
    out = {
        "Frouros IncrementalKSTest (window 500)": {
            "ns_per_update": (time.process_time() - start) / 2000 * 1e9
        }
    }
    cvm.detector.reset_state()
    start = time.process_time()
    for v in values[REFERENCE:]:
        cvm.detector.predict(np.array([float(v)]))
    out[f"Alibi CVMDriftOnline (ert {ERT}, window {CVM_WINDOWS[0]})"] = {
        "ns_per_update": (time.process_time() - start) / 2000 * 1e9
    }
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=5)
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--stationary-replicates", type=int, default=1)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--scenario", action="append", choices=list(DRIFT_SCENARIOS))
    parser.add_argument("--update", action="store_true",
                        help="with --scenario: replace only those scenarios in --output")
    args = parser.parse_args()
    import alibi_detect
    import frouros

    cvm = AlibiOnline("cvm", np.random.default_rng(98).normal(0, 1, REFERENCE))
    print(f"  alibi CVMDriftOnline configured in {cvm.config_cpu_s:.0f} s CPU", flush=True)
    if args.update:
        if not args.scenario:
            parser.error("--update needs --scenario")
        stored = json.loads(args.output.read_text())
        stored["drift"].update(drift(args.replicates, cvm, args.scenario))
        rerun = stored.setdefault("rerun_alone", [])
        rerun.extend(name for name in args.scenario if name not in rerun)
        args.output.write_text(json.dumps(stored, indent=1) + "\n")
        return 0
    result = {
        "versions": {
            "frouros": frouros.__version__,
            "alibi_detect": alibi_detect.__version__,
            "numpy": np.__version__,
        },
        "cpu": cpu(cvm),
        "drift": drift(args.replicates, cvm, args.scenario),
        "stationary": stationary(args.stationary_replicates, args.samples, cvm),
        "config_cpu_s": {"alibi CVMDriftOnline": cvm.config_cpu_s},
    }
    result["description"] = (
        (__doc__ or "").split("\n\n", 1)[1].strip()
        + f"\n\nVersions: {result['versions']}. Alibi configuration: ert {ERT}, n_bootstraps {N_BOOTSTRAPS}, "
        f"CVM windows {CVM_WINDOWS}, FET windows {FET_WINDOWS}; CVMDriftOnline took {cvm.config_cpu_s:.0f} s CPU to configure. "
        "Alibi's multivariate online detectors (MMD, LSDD) need PyTorch or TensorFlow, and Frouros' MMDStreaming "
        "returns a distance with no threshold and recomputes the whole MMD per update, so no peer has a joint "
        "signal here: on the correlation flip the peers' per-feature tests are shown (any feature firing). "
        "Alibi has no online test for categories with more than two values; Alibi CVM ran on the N(0,1)-based "
        "streams only (a configuration per distribution costs minutes)."
    )
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
