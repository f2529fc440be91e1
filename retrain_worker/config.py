"""The retrain worker's configuration: the shared sections plus a ``worker:`` section.

Contract:

* :class:`WorkerServiceConfig` extends :class:`consumer.config.ServiceConfig` (``kafka``,
  ``topics``, ``topic_layout``) with ``worker``; it is loaded with
  :func:`consumer.config.load_config`, so ``DRIFTLINE_WORKER__MAX_CONCURRENT=4`` works.
* ``worker.policy`` holds the defaults of every model; ``worker.models.<model_id>`` overrides any
  of them, partially and deeply (``{checks: {min_samples: 50}}`` keeps the other checks). Overrides
  are validated at load time, so a typo fails with the field named.
* A model is scheduled (interval trigger) when its resolved policy has ``interval_s``.

>>> cfg = WorkerServiceConfig.model_validate({"worker": {
...     "policy": {"cooldown_s": 600},
...     "models": {"fraud": {"cooldown_s": 60, "checks": {"min_samples": 50}}}}})
>>> p = cfg.worker.policy_for("fraud")
>>> p.cooldown_s, p.checks.min_samples, p.checks.min_class_share
(60.0, 50, 0.05)
>>> cfg.worker.policy_for("other").cooldown_s
600.0
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from consumer.config import ServiceConfig, deep_merge
from detectors.contracts import DriftKind, Severity

_ALL_KINDS: tuple[DriftKind, ...] = ("concept", "data", "prediction", "performance")
_DRIFT_ONLY: tuple[Severity, ...] = ("drift",)
#: The metric champion and challenger are compared on (``auto``: accuracy for classification,
#: MAE for regression); not the monitored metrics of :data:`detectors.config.MetricName`.
EvaluationMetric = Literal["auto", "accuracy", "f1", "precision", "recall", "mae", "rmse"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WindowConfig(_Section):
    """Which labelled records a training reads."""

    #: ``change_point``: records predicted at or after the episode's change point (the median
    #: ``change_point.at`` of its drift events; without any, their earliest ``detected_at``) plus
    #: ``change_point_margin_s``, the newest
    #: ``last_n`` of them; an episode without a change point (on demand, schedule, an older
    #: drift event) uses the model's last known change point, else ``last_n``.
    #: ``last_n``: the most recent ``last_n`` records of the model (old and new regime mixed);
    #: ``around_drift``: records predicted within [earliest drift − before_s, latest drift +
    #: after_s] (offsets for times).
    mode: Literal["change_point", "last_n", "around_drift"] = "change_point"
    #: Seconds added to the change point's time (negative: start earlier).
    change_point_margin_s: float = 0.0
    last_n: int = Field(default=5000, ge=1)
    before_s: float = Field(default=0.0, ge=0)
    after_s: float = Field(default=24 * 3600.0, ge=0)
    #: At most this many records are scanned per partition of the labelled topic.
    scan_limit: int = Field(default=200_000, ge=1)


class ChecksConfig(_Section):
    """Checks on the training data; a failure publishes ``skipped`` with the reasons."""

    min_samples: int = Field(default=200, ge=1)
    #: Classification: every class must hold at least this share of the samples.
    min_class_share: float = Field(default=0.05, ge=0, le=0.5)
    min_classes: int = Field(default=2, ge=1)
    #: Share of records that must carry the most common feature set.
    feature_consistency: float = Field(default=0.95, ge=0, le=1)
    #: Optional distribution check: the largest allowed |mean shift| of a numeric feature versus
    #: the champion's training window, in the champion's standard deviations. None disables it.
    max_feature_shift: float | None = Field(default=None, gt=0)


class EvaluationConfig(_Section):
    """Champion/challenger on the same time-ordered holdout (the most recent slice)."""

    #: ``auto``: accuracy for classification, MAE for regression.
    metric: EvaluationMetric = "auto"
    #: The challenger must beat the champion by at least this much (in the metric's units).
    min_improvement: float = Field(default=0.0, ge=0)
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    min_holdout: int = Field(default=20, ge=1)


class DeferralConfig(_Section):
    """Waiting for post-change labels instead of skipping (labels usually arrive late)."""

    #: A retrain whose change-point window fails only checks more data can fix
    #: (``min_samples``, ``min_new_samples``, ``class_balance``) is ``deferred`` (published once)
    #: and retried every ``recheck_s`` until they pass.
    enabled: bool = True
    recheck_s: float = Field(default=5.0, gt=0)
    #: After this many seconds of waiting the retrain is answered with ``skipped``.
    deadline_s: float = Field(default=6 * 3600.0, gt=0)
    #: On-demand triggers wait the same way (False: they are skipped at once, as before).
    on_demand: bool = True


class FollowUpConfig(_Section):
    """Retraining again as the new regime's data grows, after a promotion on a short window."""

    #: A promotion trained on fewer than this many records is followed up (0 disables).
    short_window: int = Field(default=2000, ge=0)
    #: The follow-up trains once the change-point window holds this many times the records
    #: the last training used.
    growth_factor: float = Field(default=3.0, gt=1)
    #: At most this many follow-ups per drift episode.
    max_count: int = Field(default=2, ge=0)
    #: A follow-up whose data has not grown within this many seconds is dropped (no event).
    deadline_s: float = Field(default=24 * 3600.0, gt=0)
    recheck_s: float = Field(default=10.0, gt=0)


class ModelPolicy(_Section):
    """How one model is retrained: triggers, policy, data, trainer, evaluation."""

    #: Drift event kinds and severities that trigger a retrain (``performance`` events are the
    #: consumer's ``metric:*`` events: below the version's own baseline, or a threshold crossed;
    #: a threshold never met is a ``warning``, which the default severities leave out).
    trigger_kinds: list[DriftKind] = Field(default_factory=lambda: list(_ALL_KINDS))
    trigger_severities: list[Severity] = Field(default_factory=lambda: list(_DRIFT_ONLY))
    #: Triggers arriving within this many seconds of an episode's first trigger join it.
    episode_window_s: float = Field(default=5.0, ge=0)
    #: After a promoted/rejected/failed retrain, drift triggers within this many seconds are
    #: answered with ``skipped`` (reason ``cooldown``).
    cooldown_s: float = Field(default=600.0, ge=0)
    #: Labelled samples newer than the last retrain's window needed before training again.
    min_new_samples: int = Field(default=100, ge=0)
    #: On-demand triggers skip the cooldown and the new-samples minimum (not the data checks).
    on_demand_bypasses_policy: bool = True
    #: Fixed retrain interval; None: no schedule.
    interval_s: float | None = Field(default=None, gt=0)
    task: Literal["auto", "classification", "regression"] = "auto"
    #: Train only on the drifting segment (the triggers' segment) instead of the whole model.
    segment_scoped: bool = False
    #: Trainer entry point ``module:function``; None: ``worker.trainer``.
    trainer: str | None = None
    trainer_timeout_s: float | None = Field(default=None, gt=0)
    trainer_params: dict[str, Any] = Field(default_factory=dict)
    window: WindowConfig = Field(default_factory=WindowConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    deferral: DeferralConfig = Field(default_factory=DeferralConfig)
    follow_up: FollowUpConfig = Field(default_factory=FollowUpConfig)


class MlflowRegistryConfig(_Section):
    """``worker.mlflow``: keep models in an MLflow model registry (``pip install
    driftline[mlflow]``) instead of the file system at ``registry_root``."""

    #: MLflow tracking URI: a tracking server (``http://mlflow:5000``) or a local store
    #: (``sqlite:///mlflow.db``).
    tracking_uri: str = Field(min_length=1)
    #: Model registry URI when it differs from the tracking URI; None: the tracking URI.
    registry_uri: str | None = None
    #: Experiment that holds one run per retrain (created when missing).
    experiment: str = "driftline"
    #: Artifact root of that experiment when the worker creates it; None: the server's default.
    artifact_location: str | None = None
    #: Registered model name of a model_id; ``{model_id}`` is replaced.
    model_name: str = "{model_id}"
    #: Alias of the serving version: moved to a version only when its retrain is promoted.
    serving_alias: str = Field(default="champion", min_length=1)


class WorkerConfig(_Section):
    """The ``worker:`` section."""

    group_id: str = "driftline-retrain"
    #: Stable per worker instance: a restarted worker fences its previous incarnation.
    transactional_id: str = "driftline-retrain-worker-0"
    trainer: str = "retrain_worker.default_trainer:train"
    trainer_timeout_s: float = Field(default=600.0, gt=0)
    #: Trainings that may run at once (K), over all models; one at a time per model.
    max_concurrent: int = Field(default=2, ge=1)
    #: Root directory of the file-system model registry (unless ``mlflow`` is set).
    registry_root: str = "./models"
    #: MLflow as the model registry; None: the file system at ``registry_root``.
    mlflow: MlflowRegistryConfig | None = None
    metrics_host: str = "0.0.0.0"
    #: Port of /metrics, /healthz and /readyz; 0 picks a free port, None disables.
    metrics_port: int | None = Field(default=9102, ge=0)
    #: Offsets of consumed non-trigger events are committed at least this often.
    commit_interval_s: float = Field(default=5.0, gt=0)
    #: Consumption pauses while more than this many triggers wait.
    max_pending: int = Field(default=10_000, ge=1)
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    #: Bound on one decision's transaction (produce, offsets, commit) and on
    #: ``init_transactions`` at start-up.
    transaction_timeout_s: float = Field(default=60.0, gt=0)
    #: Extra librdkafka properties for the group consumer / the transactional producer only.
    consumer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    producer: dict[str, str | int | float | bool] = Field(default_factory=dict)
    policy: ModelPolicy = Field(default_factory=ModelPolicy)
    #: Per-model partial overrides of ``policy``.
    models: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_overrides(self) -> WorkerConfig:
        for model_id in self.models:
            try:
                self.policy_for(model_id)
            except ValueError as exc:
                raise ValueError(f"models.{model_id}: {exc}") from exc
        return self

    def policy_for(self, model_id: str) -> ModelPolicy:
        """The defaults with this model's overrides applied."""
        override = self.models.get(model_id)
        if not override:
            return self.policy
        return ModelPolicy.model_validate(deep_merge(self.policy.model_dump(), override))

    def scheduled_models(self) -> dict[str, float]:
        """Model id → interval (s) of every model with a fixed retrain interval."""
        out: dict[str, float] = {}
        for model_id in self.models:
            interval = self.policy_for(model_id).interval_s
            if interval is not None:
                out[model_id] = interval
        return out


class WorkerServiceConfig(ServiceConfig):
    """Everything ``driftline retrain-worker`` reads from ``driftline.yaml``."""

    worker: WorkerConfig = Field(default_factory=WorkerConfig)


__all__ = [
    "ChecksConfig",
    "DeferralConfig",
    "EvaluationConfig",
    "FollowUpConfig",
    "MlflowRegistryConfig",
    "ModelPolicy",
    "WindowConfig",
    "WorkerConfig",
    "WorkerServiceConfig",
]
