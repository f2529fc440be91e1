"""One training episode, from labelled data to a decision: the worker's unit of work.

Contract: :func:`run_job` never raises for anything that can go wrong with data or the trainer;
it returns a :class:`JobOutcome` with status

* ``skipped`` — a data check failed (reasons listed; no trainer ran);
* ``deferred`` — only checks that more data can fix failed (``min_samples``,
  ``min_new_samples``, ``class_balance``, or a follow-up's ``min_records``) and the caller allows
  waiting (``defer``): not an answer, the caller retries later;
* ``failed`` — the trainer could not load, crashed, hung past its timeout or returned garbage,
  or the registry could not store the model;
* ``rejected`` — the challenger did not beat the champion by the configured margin;
* ``promoted`` — it did; the artifact is saved in the registry (the champion pointer is moved
  by the service only after the decision is committed).

Only :class:`~retrain_worker.exceptions.TrainerCancelledError` escapes (the worker stopped it;
no decision must be published). Steps:

1. read the window: from the change point (records predicted at or after it, plus the margin;
   the newest ``last_n``), the last N records, or the times around the drift;
2. build the time-ordered data set and run the checks; any failure → ``skipped``;
3. split off the holdout (the most recent slice); train on the rest in a child process, which
   also scores the challenger and the registry champion on the holdout;
4. champion metrics come from the registry champion, else from the logged predictions;
5. compare on the configured metric; save the artifact under a version derived from the episode.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, ParamSpec

from detectors.contracts import LabelledRecord
from retrain_worker.checks import run_checks
from retrain_worker.config import ModelPolicy, WindowConfig
from retrain_worker.contracts import Evaluation, RetrainStatus, TrainingWindow
from retrain_worker.evaluation import compare, metrics, resolve_metric
from retrain_worker.exceptions import RegistryError, TrainerCancelledError, TrainerError
from retrain_worker.registry import ModelRegistry
from retrain_worker.trainer import TrainingRequest, run_isolated
from retrain_worker.training_data import build_dataset, feature_matrix, feature_stats, split_holdout
from retrain_worker.triggers import TriggerRef, retrain_event_id

log = logging.getLogger(__name__)
P = ParamSpec("P")

#: (model_id, window config, (start, end) of an around-drift window or None) → records.
LabelledReader = Callable[[str, WindowConfig, tuple[datetime, datetime] | None], list[LabelledRecord]]


@dataclass
class JobOutcome:
    status: RetrainStatus
    reason: str
    previous_version: str | None = None
    new_version: str | None = None
    training: TrainingWindow | None = None
    evaluation: Evaluation | None = None
    artifact_uri: str | None = None
    duration_s: float = 0.0
    #: Names of failed checks (``skipped``) or the trainer error kind (``failed``): metric labels.
    causes: list[str] = field(default_factory=list)


def version_for(trigger_ids: Sequence[str]) -> str:
    """The registry version of the episode answering these triggers: stable across retries.

    >>> version_for(["de-1", "de-2"])
    'r-11a89e0a3342'
    """
    return "r-" + retrain_event_id(trigger_ids)[3:15]


#: Checks that more (post-change) data can make pass: a failure of these alone may wait.
DEFERRABLE_CHECKS = frozenset({"min_samples", "min_new_samples", "class_balance"})
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


def _time_window(
    triggers: Sequence[TriggerRef], window: WindowConfig, change_point: datetime | None
) -> tuple[datetime, datetime] | None:
    """The (start, end) predicted-at range to read, or None for the last N records."""
    if window.mode == "change_point":
        if change_point is None:
            return None
        return change_point + timedelta(seconds=window.change_point_margin_s), _END_OF_TIME
    times = [t.event_time for t in triggers if t.origin == "drift"]
    if window.mode != "around_drift" or not times:
        return None
    return (min(times) - timedelta(seconds=window.before_s),
            max(times) + timedelta(seconds=window.after_s))


def _timed(job: Callable[P, JobOutcome]) -> Callable[P, JobOutcome]:
    """Sets the outcome's ``duration_s`` to the wall time of the whole job."""

    @functools.wraps(job)
    def timed(*args: P.args, **kwargs: P.kwargs) -> JobOutcome:
        started = time.monotonic()
        outcome = job(*args, **kwargs)
        outcome.duration_s = time.monotonic() - started
        return outcome

    return timed


@_timed
def run_job(
    *,
    model_id: str,
    triggers: Sequence[TriggerRef],
    policy: ModelPolicy,
    reader: LabelledReader,
    registry: ModelRegistry,
    entry_point: str,
    timeout_s: float,
    workdir: Path,
    previous_version: str | None,
    last_window_end: datetime | None,
    cancel: threading.Event | None = None,
    change_point: datetime | None = None,
    defer: bool = False,
    min_records: int = 0,
) -> JobOutcome:
    trigger_ids = [t.trigger_id for t in triggers]
    segments = {t.segment for t in triggers if t.origin == "drift"}
    segment = next(iter(segments)) if len(segments) == 1 else None
    champion = registry.champion(model_id)
    previous = previous_version or (champion.version if champion else None)

    # 1. the window
    span = _time_window(triggers, policy.window, change_point)
    records = reader(model_id, policy.window, span)
    if policy.window.mode == "change_point" and span is not None:
        records = records[-policy.window.last_n:]
    if policy.segment_scoped and segment is not None:
        records = [r for r in records if r.segment == segment]
    ds = build_dataset(records, policy.task)

    # 2. checks
    bypass = policy.on_demand_bypasses_policy and any(t.origin == "on_demand" for t in triggers)
    report = run_checks(
        ds,
        policy.checks,
        model_id=model_id,
        segment=segment,
        segment_scoped=policy.segment_scoped,
        min_new_samples=0 if bypass else policy.min_new_samples,
        new_since=last_window_end,
        reference=(champion.metadata.get("feature_stats") if champion else None),
    )
    window = TrainingWindow(
        start=ds.records[0].predicted_at if len(ds) else None,
        end=ds.records[-1].predicted_at if len(ds) else None,
        change_point=span[0] if span is not None and policy.window.mode == "change_point"
        else None,
        sample_count=len(ds),
        class_balance=report.class_balance,
        checks_passed=report.passed,
        checks_failed=report.failed,
    )
    since = f" since the change point {change_point.isoformat()}" if change_point else ""
    short = len(ds) < min_records
    if (not report.ok or short) and defer and set(report.failed_names) <= DEFERRABLE_CHECKS:
        wanted = [*report.failed, *([f"min_records: {len(ds)} < {min_records}"] if short else [])]
        return JobOutcome("deferred", f"waiting for labelled records{since}: "
                          + "; ".join(wanted), previous, training=window,
                          causes=[w.split(":", 1)[0] for w in wanted])
    if not report.ok:
        waited = "" if not since else f" (window{since})"
        return JobOutcome("skipped", "; ".join(report.failed) + waited, previous,
                          training=window, causes=report.failed_names)

    # 3. train in isolation
    train_set, holdout = split_holdout(ds, policy.evaluation.holdout_fraction,
                                       policy.evaluation.min_holdout)
    new_version = version_for(trigger_ids)
    request = TrainingRequest(
        model_id=model_id,
        task=ds.task,
        feature_names=ds.feature_names,
        features=train_set.X,
        labels=list(train_set.y),
        params=dict(policy.trainer_params),
        metadata={
            "model_id": model_id,
            "segment": segment,
            "previous_version": previous,
            "new_version": new_version,
            "triggers": trigger_ids,
            "window_start": window.start.isoformat() if window.start else None,
            "window_end": window.end.isoformat() if window.end else None,
        },
        records=[r.model_dump(mode="json") for r in train_set.records],
    )
    champion_names: list[str] | None = None
    if champion is not None:
        names = champion.metadata.get("feature_names")
        champion_names = list(names) if isinstance(names, list) else ds.feature_names
    try:
        output = run_isolated(
            entry_point,
            request,
            holdout.X,
            workdir=workdir,
            timeout_s=timeout_s,
            champion_artifact=registry.local_path(champion.uri) if champion else None,
            champion_holdout=(feature_matrix(holdout.records, champion_names)
                              if champion_names is not None else None),
            cancel=cancel,
        )
    except TrainerCancelledError:
        raise
    except (TrainerError, RegistryError) as exc:
        reason = getattr(exc, "reason", "registry")
        return JobOutcome("failed", f"{reason}: {exc}", previous, training=window,
                          causes=[reason])

    # 4. champion and challenger on the same holdout
    metric = resolve_metric(policy.evaluation.metric, ds.task)
    source: Literal["registry", "logged_predictions", "none"] = "none"
    champion_scores: dict[str, float] = {}
    if output.champion_predictions is not None:
        source, champion_scores = "registry", metrics(ds.task, holdout.y,
                                                       output.champion_predictions)
    else:
        if output.champion_error:
            log.warning("champion %s of %s could not score the holdout: %s",
                        champion.version if champion else "?", model_id, output.champion_error)
        logged = [r.prediction for r in holdout.records]
        try:
            champion_scores = metrics(ds.task, holdout.y, logged)
            source = "logged_predictions"
        except (TypeError, ValueError):
            champion_scores = {}
    try:
        challenger_scores = metrics(ds.task, holdout.y, output.challenger_predictions)
    except (TypeError, ValueError) as exc:
        return JobOutcome("failed", f"bad_output: predictions cannot be scored: {exc}", previous,
                          training=window, causes=["bad_output"])
    evaluation = Evaluation(
        metric=metric,
        holdout_size=len(holdout),
        champion_source=source,
        champion_version=(champion.version if source == "registry" and champion else previous),
        champion=champion_scores,
        challenger=challenger_scores,
    )
    if metric not in challenger_scores:
        return JobOutcome("failed", f"metric {metric!r} does not apply to a {ds.task} model",
                          previous, training=window, evaluation=evaluation, causes=["config"])
    promote, why = compare(metric, champion_scores, challenger_scores,
                           policy.evaluation.min_improvement)

    # 5. the registry
    metadata: dict[str, Any] = {
        "trainer": entry_point,
        "trainer_metadata": output.metadata,
        "task": ds.task,
        "feature_names": ds.feature_names,
        "feature_stats": feature_stats(train_set),
        "training": window.model_dump(mode="json"),
        "evaluation": evaluation.model_dump(mode="json"),
        "previous_version": previous,
        "triggers": trigger_ids,
        "decision": "promoted" if promote else "rejected",
    }
    try:
        uri = registry.save(model_id, new_version, output.artifact.read_bytes(), metadata)
    except (RegistryError, OSError) as exc:
        return JobOutcome("failed", f"registry: {exc}", previous, training=window,
                          evaluation=evaluation, causes=["registry"])
    return JobOutcome(
        "promoted" if promote else "rejected",
        why,
        previous,
        new_version=new_version,
        training=window,
        evaluation=evaluation,
        artifact_uri=uri,
    )


__all__ = ["JobOutcome", "LabelledReader", "run_job", "version_for"]
