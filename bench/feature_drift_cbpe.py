"""CBPE part of bench/feature_drift.py: estimated vs realized performance, labels an hour late.

A binary classifier on two features: the true ``P(y=1 | x) = sigmoid(2 x1 - x2)``; the model's
score is over-confident, ``sigmoid(1.5 (2 x1 - x2))``, and predicts ``score >= 0.5``. The
calibration is fitted on 5,000 labelled reference predictions and refreshed as labels arrive.
Predictions arrive at ``RATE`` per second; each label arrives one hour after its prediction.
At ``SHIFT`` the covariates move closer to the decision boundary (x ~ N(0, 1.2²) per feature
before, N((0.2, 0), 0.4²) after): P(y | x) is unchanged (covariate shift), accuracy and F1 drop.

Measured:

* tracking: at every refresh of the estimate (a window of the last 500 predictions), the
  mean absolute difference between the estimated metric and the realized metric of the same
  500 predictions (computed from their labels, which the estimator has not seen yet);
* the lead: the estimate fires (its default baseline − margin threshold) at prediction
  ``i_e``; the realized metric on a window of the last 500 *labelled* predictions, against the
  same threshold, can first cross when the label of prediction ``j`` (the last of the first
  window that is below the threshold) arrives, i.e. at prediction ``j + RATE * 3600``. Lead =
  that minus ``i_e``; also reported without the label delay (``j - i_e``);
* false alarms of the estimate on a stationary stream of the reference distribution.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from detectors.estimated_performance import CBPESpec, EstimatedPerformance

RATE = 10.0  # predictions per second
LABEL_DELAY_S = 3600.0
WINDOW = CBPESpec().window_size


def _draw(
    rng: np.random.Generator, n: int, shifted: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x = rng.normal((0.2, 0.0), 0.4, (n, 2)) if shifted else rng.normal(0.0, 1.2, (n, 2))
    z = 2 * x[:, 0] - x[:, 1]
    p = 1 / (1 + np.exp(-z))
    score = 1 / (1 + np.exp(-1.5 * z))
    label = rng.random(n) < p
    return score, score >= 0.5, label


def _rolling_realized(
    predicted: np.ndarray, label: np.ndarray, window: int
) -> dict[str, np.ndarray]:
    """Realized metrics of windows ending at each index (NaN before the first full window)."""
    yhat, y = predicted.astype(float), label.astype(float)

    def rolling(v: np.ndarray) -> np.ndarray:
        c = np.concatenate([[0.0], np.cumsum(v)])
        out = np.full(len(v), np.nan)
        out[window - 1 :] = c[window:] - c[:-window]
        return out

    tp, pp, ap = rolling(yhat * y), rolling(yhat), rolling(y)
    n = float(window)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "accuracy": (n - pp - ap + 2 * tp) / n,
            "precision": tp / pp,
            "recall": tp / ap,
            "f1": 2 * tp / (pp + ap),
        }


def run_cbpe(seed: int, quick: bool) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    rate = RATE if not quick else 2.0
    delay = int(rate * LABEL_DELAY_S)
    shift = 20_000 if not quick else 5_000
    total = shift + delay + 10_000
    ref_score, _, ref_label = _draw(rng, 5000, shifted=False)
    s0, p0, y0 = _draw(rng, shift, shifted=False)
    s1, p1, y1 = _draw(rng, total - shift, shifted=True)
    score, predicted, label = (
        np.concatenate([s0, s1]),
        np.concatenate([p0, p1]),
        np.concatenate([y0, y1]),
    )

    cbpe = EstimatedPerformance(CBPESpec())
    cbpe.fit(ref_score.tolist(), ref_label.tolist())
    estimates: list[tuple[int, dict[str, float]]] = []
    fired: list[tuple[int, list[str]]] = []
    gaps: list[dict[str, float]] = []
    last: dict[str, float] = {}
    for i in range(total):
        j = i - delay
        if j >= 0:
            cbpe.observe_label(float(score[j]), bool(predicted[j]), bool(label[j]))
        if cbpe.update(float(score[i]), bool(predicted[i])):
            fired.append((i, list(cbpe.breached)))
        if cbpe.estimates and cbpe.estimates is not last:
            last = cbpe.estimates
            estimates.append((i, dict(last)))
        if i % 1000 == 999 and cbpe.gap_filled >= WINDOW:
            gaps.append(cbpe.gap())
    realized = _rolling_realized(predicted, label, WINDOW)
    tracking: dict[str, Any] = {}
    for metric in ("accuracy", "precision", "recall", "f1"):
        diffs_pre = [abs(e[metric] - realized[metric][i]) for i, e in estimates if i < shift]
        diffs_post = [
            abs(e[metric] - realized[metric][i]) for i, e in estimates if i >= shift + WINDOW
        ]
        diffs_all = [abs(e[metric] - realized[metric][i]) for i, e in estimates]
        tracking[metric] = {
            "mae_all": float(np.mean(diffs_all)),
            "mae_before_shift": float(np.mean(diffs_pre)),
            "mae_after_shift": float(np.mean(diffs_post)),
            "estimate_before": float(np.mean([e[metric] for i, e in estimates if i < shift])),
            "estimate_after": float(
                np.mean([e[metric] for i, e in estimates if i >= shift + WINDOW])
            ),
            "realized_before": float(np.nanmean(realized[metric][WINDOW:shift])),
            "realized_after": float(np.nanmean(realized[metric][shift + WINDOW :])),
        }
    thresholds = {m: w.threshold for m, w in cbpe.watchers.items()}
    false_alarms = [f for f in fired if f[0] < shift]
    after = [f for f in fired if f[0] >= shift]
    lead: dict[str, Any] = {}
    for metric, threshold in thresholds.items():
        est = next((i for i, metrics in after if metric in metrics), None)
        below = np.nonzero(realized[metric][shift:] < threshold)[0]
        j = int(shift + below[0]) if len(below) else None
        lead[metric] = {
            "threshold": threshold,
            "estimate_fires_at": est,
            "estimate_delay": None if est is None else est - shift,
            "realized_window_crosses_at": j,
            "realized_can_fire_at": None if j is None else j + delay,
            "lead_samples": None if est is None or j is None else j + delay - est,
            "lead_without_label_delay": None if est is None or j is None else j - est,
        }
    stationary = _stationary_false_alarms(seed + 1, 100_000 if not quick else 20_000)
    mean_gap = (
        {m: float(np.mean([abs(g[m]) for g in gaps])) for m in ("accuracy", "f1")} if gaps else {}
    )
    result = {
        "rate_per_s": rate,
        "label_delay_samples": delay,
        "shift_at": shift,
        "samples": total,
        "tracking": tracking,
        "thresholds": thresholds,
        "baseline": dict(cbpe.baseline),
        "false_alarms_before_shift": len(false_alarms),
        "lead": lead,
        "stationary": stationary,
        "prequential_gap_mean_abs": mean_gap,
    }
    result["markdown"] = _markdown(result)
    return result


def _stationary_false_alarms(seed: int, n: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    ref_score, _, ref_label = _draw(rng, 5000, shifted=False)
    score, predicted, label = _draw(rng, n, shifted=False)
    cbpe = EstimatedPerformance(CBPESpec())
    cbpe.fit(ref_score.tolist(), ref_label.tolist())
    fired = 0
    for i in range(n):
        if i >= 500:  # labels 500 predictions late, refreshing the calibration
            cbpe.observe_label(
                float(score[i - 500]), bool(predicted[i - 500]), bool(label[i - 500])
            )
        fired += cbpe.update(float(score[i]), bool(predicted[i]))
    return {"samples": n, "firings": fired, "per_100k": fired * 100_000 / n}


def _markdown(r: dict[str, Any]) -> str:
    t = r["tracking"]
    lines = [
        f"{r['samples']:,} predictions at {r['rate_per_s']:g}/s, labels {LABEL_DELAY_S / 3600:g} h late "
        f"(= {r['label_delay_samples']:,} predictions), covariate shift at {r['shift_at']:,}; window {WINDOW}.",
        "",
        "| metric | mean abs gap, all | before shift | after shift | estimate before → after | realized before → after |",
        "|---|---|---|---|---|---|",
    ]
    for metric, v in t.items():
        lines.append(
            f"| {metric} | {v['mae_all']:.4f} | {v['mae_before_shift']:.4f} | {v['mae_after_shift']:.4f} | "
            f"{v['estimate_before']:.3f} → {v['estimate_after']:.3f} | {v['realized_before']:.3f} → {v['realized_after']:.3f} |"
        )
    lines += [
        "",
        "| metric | threshold | estimate fires (samples after shift) | realized window first below | realized can fire (label delay) | lead, samples | lead without label delay |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric, v in r["lead"].items():
        lines.append(
            f"| {metric} | {v['threshold']:.3f} | {v['estimate_fires_at']} (+{v['estimate_delay']}) | "
            f"{v['realized_window_crosses_at']} | {v['realized_can_fire_at']} | {v['lead_samples']} | {v['lead_without_label_delay']} |"
        )
    s = r["stationary"]
    lines += [
        "",
        f"False alarms: {r['false_alarms_before_shift']} before the shift; {s['firings']} on a stationary stream of "
        f"{s['samples']:,} predictions ({s['per_100k']:.2f} per 100k). Prequential estimated-vs-realized gap "
        f"(`EstimatedPerformance.gap()`, sampled every 1,000 predictions), mean |gap|: "
        + ", ".join(f"{k} {v:.4f}" for k, v in r["prequential_gap_mean_abs"].items()),
    ]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - manual run
    import json

    print(
        json.dumps({k: v for k, v in run_cbpe(3, quick=True).items() if k != "markdown"}, indent=1)
    )
    _ = math
