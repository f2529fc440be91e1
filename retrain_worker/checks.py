"""Checks on a training window before any training: size, freshness, balance, population.

Contract: :func:`run_checks` never raises on data; it returns a :class:`CheckReport` naming every
check it ran as passed or failed, each failure with its reason (``name: detail``). A report with a
failure means the episode is answered with ``skipped`` and those reasons.

Checks, in order:

* ``min_samples``: at least ``checks.min_samples`` records;
* ``min_new_samples``: at least ``min_new_samples`` records labelled after the last trained
  window (waived for on-demand triggers and the first training);
* ``class_balance`` (classification): at least ``min_classes`` classes, each with at least
  ``min_class_share`` of the records;
* ``population``: every record belongs to the model (and to the segment when segment-scoped);
* ``feature_consistency``: at least ``feature_consistency`` of the records carry the most common
  feature set;
* ``distribution`` (optional): no numeric feature's mean moved more than ``max_feature_shift``
  reference standard deviations from the reference window (the champion's training data).

>>> from retrain_worker.config import ChecksConfig
>>> from retrain_worker.training_data import build_dataset
>>> from datetime import UTC, datetime
>>> from detectors.contracts import LabelledRecord
>>> t = datetime(2024, 1, 1, tzinfo=UTC)
>>> recs = [LabelledRecord(prediction_id=f"p{i}", model_id="m", model_version="v1",
...         predicted_at=t, labelled_at=t, features={"x": 1.0}, prediction=1, label=True)
...         for i in range(30)]
>>> report = run_checks(build_dataset(recs), ChecksConfig(min_samples=50), model_id="m")
>>> report.failed
['min_samples: 30 < 50', 'class_balance: 1 class (true), need 2']
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from retrain_worker.config import ChecksConfig
from retrain_worker.training_data import Dataset, class_balance, feature_stats


@dataclass
class CheckReport:
    passed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    class_balance: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def _record(self, name: str, problem: str | None) -> None:
        if problem is None:
            self.passed.append(name)
        else:
            self.failed.append(f"{name}: {problem}")

    @property
    def failed_names(self) -> list[str]:
        return [f.split(":", 1)[0] for f in self.failed]


def run_checks(
    ds: Dataset,
    checks: ChecksConfig,
    *,
    model_id: str,
    segment: str | None = None,
    segment_scoped: bool = False,
    min_new_samples: int = 0,
    new_since: datetime | None = None,
    reference: dict[str, dict[str, float]] | None = None,
) -> CheckReport:
    report = CheckReport()
    n = len(ds)
    report._record("min_samples", None if n >= checks.min_samples else f"{n} < {checks.min_samples}")

    if new_since is not None and min_new_samples > 0:
        new = sum(1 for r in ds.records if r.labelled_at > new_since)
        report._record(
            "min_new_samples",
            None if new >= min_new_samples else f"{new} new since last retrain < {min_new_samples}",
        )

    if ds.task == "classification":
        report.class_balance = class_balance(ds.y)
        classes = report.class_balance
        if len(classes) < checks.min_classes:
            names = ", ".join(classes) or "none"
            word = "class" if len(classes) == 1 else "classes"
            report._record(
                "class_balance", f"{len(classes)} {word} ({names}), need {checks.min_classes}"
            )
        else:
            rare = {k: v for k, v in classes.items() if v < checks.min_class_share}
            report._record(
                "class_balance",
                None
                if not rare
                else ", ".join(f"{k} {v:.1%}" for k, v in rare.items())
                + f" < {checks.min_class_share:.1%}",
            )

    strangers = [r for r in ds.records if r.model_id != model_id]
    if segment_scoped:
        strangers += [r for r in ds.records if r.model_id == model_id and r.segment != segment]
    report._record(
        "population",
        None if not strangers else f"{len(strangers)} records of another model or segment",
    )

    if n:
        shapes = Counter(frozenset(r.features) for r in ds.records)
        share = shapes.most_common(1)[0][1] / n
        report._record(
            "feature_consistency",
            None
            if share >= checks.feature_consistency
            else f"only {share:.1%} of records share one feature set",
        )

    if checks.max_feature_shift is not None and reference:
        current = feature_stats(ds)
        shifted = []
        missing = sorted(set(reference) - set(current))
        for name, ref in reference.items():
            if name not in current:
                continue
            scale = ref["std"] if ref["std"] > 0 else 1.0
            shift = abs(current[name]["mean"] - ref["mean"]) / scale
            if shift > checks.max_feature_shift:
                shifted.append(f"{name} moved {shift:.1f} sd")
        problems = shifted + [f"{name} missing" for name in missing]
        report._record("distribution", "; ".join(problems) if problems else None)
    return report


__all__ = ["CheckReport", "run_checks"]
