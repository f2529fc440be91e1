"""Backtest report: one self-contained HTML page of signals, detector statistics and detections.

Contract: :func:`write_report` takes the JSONL events a replay read, the drift events it
published and the configuration it ran with, and writes an HTML file with one ``<section>`` per
model. For every (model_version, segment, signal) of that model it shows the signal's values in
the pipeline's feed order (join included) and, per configured detector, River's own statistic at
each sample (ADWIN estimation and width, Page-Hinkley statistic vs threshold, DDM p + s vs its
warning and drift levels, the numeric evidence of the others), with the published drift events
(solid) and warnings (dashed) as markers; events of the windowed feature detectors on the same
signal (shape, categories, new categories, missing rate, type change) are purple markers on the
signal's own plot. The events table gives each event's kind and what moved (:func:`what_moved`:
the categories and their shares, new names, the missing rate, the unexpected type, the features
of a joint change, an estimated metric against its threshold). Images are matplotlib PNGs
embedded as base64, so the page needs no other file.

The report is a second pass over the input, run only when asked for: the replay's hot path does
not record anything for it. Detectors are rebuilt from the same specs and fed the same sequences,
so their statistics are the ones the replay's detectors had.

>>> import json
>>> from detectors.config import DetectionConfig
>>> config = DetectionConfig(signals={"feature": [{"type": "page_hinkley", "threshold": 5}]},
...                          metric_thresholds={})
>>> lines = [json.dumps({"type": "prediction", "prediction_id": f"p{i}", "model_id": "m",
...                      "model_version": "v1", "timestamp": i, "prediction": 1,
...                      "features": {"x": 0.0 if i < 40 else 2.0}}).encode() for i in range(60)]
>>> traces = signal_traces(lines)
>>> trace = traces[("m", "v1", None, "feature:x")]
>>> len(trace.values), trace.offsets[:3]
(60, [0, 1, 2])
>>> curves, fired = detector_curves(config.detectors_for("m", "feature:x")[0], trace.values)
>>> sorted(curves), fired
(['mean', 'statistic', 'threshold'], [42])
>>> what_moved("category_drift", {"category_1": "DE", "reference_share_1": 1.0,
...            "recent_share_1": 0.2, "category_2": "(other)", "reference_share_2": 0.0,
...            "recent_share_2": 0.8, "other_category_1": "US", "other_count_1": 400})
'DE 100% → 20%; (other) 0% → 80%; in (other): US ×400'
>>> what_moved("missing_rate", {"reference_rate": 0.0089, "recent_rate": 0.1})
'rate 0.9% → 10.0%'
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from detectors.config import DetectionConfig
from detectors.contracts import DriftEvent, LabelledRecord, Source
from detectors.decoding import EventDecoder, Refusal
from detectors.events import InputPrediction
from detectors.feature_signals import FeatureSignalsConfig
from detectors.pipeline import Pipeline
from detectors.river_detectors import build, evidence
from detectors.running_clip import clip_for
from detectors.signals import is_regression, residual_value

__all__ = [
    "Trace", "detector_curves", "render_html", "signal_traces", "what_moved", "write_report"]

#: (model_id, model_version, segment, signal)
TraceKey = tuple[str, str, str | None, str]

#: Points drawn per curve at most (longer series are strided; every detection is still drawn).
MAX_POINTS = 4000


@dataclass
class Trace:
    """One signal of one key: values in feed order and the input offset each came from."""

    values: list[float] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)

    def add(self, value: float, offset: int) -> None:
        self.values.append(value)
        self.offsets.append(offset)


def signal_traces(lines: Iterable[bytes], task: str = "auto") -> dict[TraceKey, Trace]:
    """Per (model, version, segment, signal), the values the pipeline's detectors are fed."""
    config = DetectionConfig(signals={}, metric_thresholds={}, task=task,  # type: ignore[arg-type]
                             feature_signals=FeatureSignalsConfig.off())
    pipeline = Pipeline(config)
    decode = EventDecoder().decode
    out: dict[TraceKey, Trace] = {}

    def trace(model: str, version: str, segment: str | None, signal: str) -> Trace:
        key = (model, version, segment, signal)
        found = out.get(key)
        if found is None:
            found = out[key] = Trace()
        return found

    for offset, raw in enumerate(lines):
        raw = raw.strip()
        source = Source.model_construct(topic="report", partition=0, offset=offset)
        event = decode(raw, source.topic)
        if isinstance(event, Refusal):
            continue
        outputs = pipeline.process(event, source, raw)
        if isinstance(event, InputPrediction) and not any(getattr(o, "stage", None) for o in outputs):
            key = (event.model_id, event.model_version, event.segment)
            if event.score is not None:
                trace(*key, "score").add(event.score, offset)
            for name, value in event.features.items():
                if value.__class__ in (int, float):
                    trace(*key, "feature:" + name).add(value, offset)
        for o in outputs:
            if isinstance(o, LabelledRecord):
                key = (o.model_id, o.model_version, o.segment)
                if is_regression(o.prediction, task):
                    residual = residual_value(o.prediction, o.label)
                    if residual is not None:
                        trace(*key, "residual").add(residual, offset)
                else:
                    trace(*key, "error").add(0.0 if o.prediction == o.label else 1.0, offset)
    return out


def detector_curves(
    spec: Any, values: list[float], signal: str = ""
) -> tuple[dict[str, list[float]], list[int]]:
    """River's statistic for ``spec`` after each value, and the indices where it fired (a
    feature ``signal``'s ADWIN reads the values clipped as the monitor clips them)."""
    detector = build(spec)
    clip = clip_for(signal, spec)
    curves: dict[str, list[float]] = {}
    fired: list[int] = []
    kind = spec.type
    nan = float("nan")
    for i, value in enumerate(values):
        detector.update(value if clip is None else clip.clip(value))
        if detector.drift_detected:
            fired.append(i)
            if clip is not None:
                clip.restart()
        if kind == "adwin":
            point: dict[str, Any] = {
                "estimation": detector.estimation,
                "width": detector.width,
            }
        elif kind == "ddm":
            e = evidence(spec, detector)
            p, s, p_min, s_min = e["p"], e["s"], e["p_min"], e["s_min"]
            finite = None not in (p, s, p_min, s_min) and p_min != float("inf")
            point = {
                "p + s": p + s if finite else nan,  # type: ignore[operator]
                "warning level": p_min + spec.warning_threshold * s_min if finite else nan,
                "drift level": p_min + spec.drift_threshold * s_min if finite else nan,
            }
        else:
            point = {
                k: v
                for k, v in evidence(spec, detector).items()
                if isinstance(v, int | float) and k not in ("delta", "alpha", "beta", "seed")
            }
        for name, v in point.items():
            curves.setdefault(name, [nan] * i).append(nan if v is None else float(v))
        for series in curves.values():
            if len(series) < i + 1:
                series.append(nan)
    return curves, fired


def _ranked(stats: dict[str, Any], name: str) -> list[tuple[int, Any]]:
    out = []
    rank = 1
    while f"{name}_{rank}" in stats:
        out.append((rank, stats[f"{name}_{rank}"]))
        rank += 1
    return out


def what_moved(detector: str, stats: dict[str, Any]) -> str:
    """One line saying what a windowed feature or estimated-performance event saw ("" else)."""
    if detector in ("category_drift", "shape_drift"):
        parts = [f"{name} {stats[f'reference_share_{r}']:.0%} → {stats[f'recent_share_{r}']:.0%}"
                 for r, name in _ranked(stats, "category")]
        pooled = [f"{name} ×{stats[f'other_count_{r}']}"
                  for r, name in _ranked(stats, "other_category")]
        if pooled:
            parts.append("in (other): " + ", ".join(pooled))
        return "; ".join(parts)
    if detector == "new_category":
        return "new: " + ", ".join(f"{name} ×{stats[f'new_count_{r}']}"
                                   for r, name in _ranked(stats, "new_category"))
    if detector == "missing_rate":
        return f"rate {stats['reference_rate']:.1%} → {stats['recent_rate']:.1%}"
    if detector == "type_change":
        seen = ", ".join(f"{kind} ×{stats[f'observed_count_{r}']}"
                         for r, kind in _ranked(stats, "observed_type"))
        return f"expected {stats.get('expected_type')}; seen {seen}"
    if detector == "joint_drift":
        return "features: " + ", ".join(
            f"{name} (residual ×{stats[f'residual_ratio_{r}']:.1f})"
            for r, name in _ranked(stats, "feature"))
    if detector == "cbpe":
        return (f"estimated {stats['metric']} {stats['estimate']:.3f} < {stats['threshold']:.3f}"
                f" (baseline {stats['baseline']:.3f})" if stats.get("baseline") is not None
                else f"estimated {stats['metric']} {stats['estimate']:.3f} < "
                     f"{stats['threshold']:.3f}")
    return ""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(
    key: TraceKey, trace: Trace, config: DetectionConfig, events: list[DriftEvent]
) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, version, segment, signal = key
    specs = config.detectors_for(model, signal)
    if not trace.values or not (specs or any(e.signal == signal for e in events)):
        return None
    position = {offset: i for i, offset in enumerate(trace.offsets)}
    step = max(1, len(trace.values) // MAX_POINTS)
    xs = list(range(0, len(trace.values), step))
    fig, axes = plt.subplots(
        1 + len(specs), 1, figsize=(10, 2.2 * (1 + len(specs))), sharex=True, squeeze=False
    )
    top = axes[0][0]
    top.plot(xs, trace.values[::step], ".", markersize=2, alpha=0.5, color="tab:gray")
    top.set_ylabel(signal)
    top.set_title(f"{model} / {version} / {segment or '-'} / {signal}")
    river = {spec.label for spec in specs}
    for e in events:
        i = position.get(e.source.offset)
        if e.signal == signal and e.detector not in river and i is not None:
            top.axvline(i, color="tab:purple", linewidth=1.2)
            top.annotate(e.detector, (i, 1.0), xycoords=("data", "axes fraction"),
                         fontsize="x-small", color="tab:purple", rotation=90, va="top")
    for row, spec in enumerate(specs, start=1):
        ax = axes[row][0]
        curves, _ = detector_curves(spec, trace.values, signal)
        twin = None
        for name, series in curves.items():
            if name == "width":
                twin = twin or ax.twinx()
                twin.plot(xs, series[::step], color="tab:gray", linewidth=0.8, label=name)
                twin.set_ylabel("width")
            else:
                ax.plot(xs, series[::step], linewidth=1.0, label=name)
        ax.set_ylabel(spec.label)
        ax.legend(loc="upper left", fontsize="small")
        for e in events:
            if e.signal != signal or e.detector != spec.label:
                continue
            i = position.get(e.source.offset)
            if i is None:
                continue
            style = "-" if e.severity == "drift" else "--"
            color = "tab:red" if e.severity == "drift" else "tab:orange"
            for a in (top, ax):
                a.axvline(i, color=color, linestyle=style, linewidth=1.2)
    axes[-1][0].set_xlabel(f"sample of {signal} (feed order)")
    image = _png(fig)
    plt.close(fig)
    return image


def render_html(
    traces: dict[TraceKey, Trace],
    events: list[DriftEvent],
    config: DetectionConfig,
    title: str = "Driftline replay report",
) -> str:
    """The report page: one ``<section class="model">`` per model, PNGs inline as base64."""
    by_model: dict[str, list[TraceKey]] = {}
    for key in sorted(traces, key=lambda k: (k[0], k[1], k[2] or "", k[3])):
        by_model.setdefault(key[0], []).append(key)
    parts = [
        "<!DOCTYPE html>",
        '<html><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>",
        f"</head><body><h1>{html.escape(title)}</h1>",
        "<p>Grey points: the signal in feed order. Lines below: each detector's statistic. "
        "Red solid markers: published drift events; orange dashed: warnings; purple: events "
        "of the windowed feature detectors on that signal.</p>",
    ]
    for model, keys in by_model.items():
        mine = [e for e in events if e.model_id == model]
        parts.append(f'<section class="model" id="model-{html.escape(model)}">')
        parts.append(f"<h2>{html.escape(model)}</h2>")
        parts.append(f"<p>{len(mine)} drift events.</p>")
        if mine:
            parts.append(
                "<table><tr><th>line</th><th>version</th><th>segment</th><th>signal</th>"
                "<th>detector</th><th>kind</th><th>severity</th><th>samples</th>"
                "<th>what moved</th></tr>"
            )
            for e in mine:
                cells = (
                    e.source.offset,
                    e.model_version,
                    e.segment or "-",
                    e.signal,
                    e.detector,
                    e.kind,
                    e.severity,
                    e.samples_seen,
                    what_moved(e.detector, dict(e.stats)),
                )
                parts.append(
                    "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
                )
            parts.append("</table>")
        for key in keys:
            events_of_key = [e for e in mine if (e.model_version, e.segment) == key[1:3]]
            image = _figure(key, traces[key], config, events_of_key)
            if image is not None:
                label = html.escape(" / ".join(str(k or "-") for k in key))
                parts.append(f'<img alt="{label}" src="data:image/png;base64,{image}">')
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    input_path: str | Path,
    events: list[DriftEvent],
    output_path: str | Path,
    config: DetectionConfig | None = None,
) -> Path:
    """Write the HTML report of a replay of ``input_path`` that published ``events``."""
    config = config or DetectionConfig()
    with Path(input_path).open("rb") as lines:
        traces = signal_traces(lines, task=config.task)
    output = Path(output_path)
    output.write_text(render_html(traces, events, config), encoding="utf-8")
    return output
