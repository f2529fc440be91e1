"""Pluggable trainers, run isolated: a separate process, a timeout, a validated answer.

Contract:

* A trainer is a function named by an entry point ``module:function``; it receives a
  :class:`TrainingRequest` and returns a :class:`TrainingResult` (or a ``(model, metadata)``
  tuple). The model must be picklable and have ``predict(features) -> sequence`` with one value
  per row of the feature matrix.
* :func:`run_isolated` runs it in a fresh Python process (``python -m retrain_worker.trainer``),
  in its own process group, with a timeout. The child also scores the challenger and, when one is
  given, the champion artifact on the holdout (with the champion's own feature columns), so no
  user code runs in the worker process.
* Every way a training can go wrong raises a :class:`~retrain_worker.exceptions.TrainerError`
  (load, crash, timeout, bad output, cancelled); the worker turns it into a ``failed`` event and
  carries on. A timed-out or cancelled child is killed with its whole process group; a child whose
  parent dies (``kill -9`` of the worker) exits by itself.

Exchange (files in a private work directory): ``request.pkl`` in, ``result.pkl`` out,
``trainer.log`` (the child's stdout and stderr), ``model.pkl`` (the pickled challenger).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from retrain_worker.exceptions import (
    TrainerCancelledError,
    TrainerCrashError,
    TrainerError,
    TrainerLoadError,
    TrainerOutputError,
    TrainerTimeoutError,
)


@dataclass(frozen=True)
class TrainingRequest:
    """What a trainer gets: the training slice (not the holdout), typed.

    ``features`` is a float matrix (rows = samples in time order, columns = ``feature_names``,
    NaN = missing); ``labels`` the raw label values; ``records`` the labelled records as JSON
    objects (string features included); ``metadata`` the model id, versions, triggers and window.
    """

    model_id: str
    task: str
    feature_names: list[str]
    features: np.ndarray
    labels: list[Any]
    params: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class TrainingResult:
    """What a trainer returns: a model with ``predict`` and JSON-able metadata."""

    model: Any
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainerOutput:
    """A validated answer of an isolated training."""

    artifact: Path
    metadata: dict[str, Any]
    challenger_predictions: list[Any]
    champion_predictions: list[Any] | None
    champion_error: str | None
    duration_s: float


def load_entry_point(spec: str) -> Callable[[TrainingRequest], Any]:
    """Import ``module:function``.

    >>> load_entry_point("retrain_worker.default_trainer:train").__name__
    'train'
    >>> load_entry_point("no_colon")
    Traceback (most recent call last):
    ...
    retrain_worker.exceptions.TrainerLoadError: trainer entry point 'no_colon' is not 'module:function'
    """
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise TrainerLoadError(f"trainer entry point {spec!r} is not 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise TrainerLoadError(f"cannot load trainer {spec!r}: {exc}") from exc
    if not callable(target):
        raise TrainerLoadError(f"trainer {spec!r} is not callable")
    return target


# -- child side ----------------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TrainerOutputError(f"prediction {value!r} is not finite")
        return value
    raise TrainerOutputError(f"prediction {value!r} of type {type(value).__name__} is not a value")


def _predictions(model: Any, X: np.ndarray, who: str) -> list[Any]:
    out = model.predict(X)
    if isinstance(out, np.ndarray):
        out = out.ravel().tolist() if out.ndim > 1 and 1 in out.shape else out.tolist()
    if not isinstance(out, list | tuple):
        raise TrainerOutputError(f"{who}.predict returned {type(out).__name__}, not a sequence")
    if len(out) != len(X):
        raise TrainerOutputError(f"{who}.predict returned {len(out)} values for {len(X)} rows")
    return [_plain(v) for v in out]


def _watch_parent() -> None:
    parent = os.getppid()
    while True:
        time.sleep(0.5)
        if os.getppid() != parent:
            os._exit(70)


def _child(workdir: Path) -> int:
    threading.Thread(target=_watch_parent, daemon=True).start()
    job = pickle.loads((workdir / "request.pkl").read_bytes())
    answer: dict[str, Any]
    try:
        function = load_entry_point(job["entry_point"])
        returned = function(job["request"])
        if isinstance(returned, TrainingResult):
            model, metadata = returned.model, returned.metadata
        elif isinstance(returned, tuple) and len(returned) == 2:
            model, metadata = returned
        else:
            raise TrainerOutputError(
                f"trainer returned {type(returned).__name__}, expected TrainingResult "
                "or (model, metadata)"
            )
        if not callable(getattr(model, "predict", None)):
            raise TrainerOutputError(f"model of type {type(model).__name__} has no predict()")
        if not isinstance(metadata, dict):
            raise TrainerOutputError(f"metadata is {type(metadata).__name__}, not a dict")
        metadata = json.loads(json.dumps(metadata, default=str))
        challenger = _predictions(model, job["holdout"], "model")
        try:
            blob = pickle.dumps(model)
        except Exception as exc:
            raise TrainerOutputError(f"model cannot be pickled: {exc}") from exc
        (workdir / "model.pkl").write_bytes(blob)
        champion, champion_error = None, None
        if job.get("champion_artifact"):
            try:
                old = pickle.loads(Path(job["champion_artifact"]).read_bytes())
                champion = _predictions(old, job["champion_holdout"], "champion")
            except Exception as exc:
                champion_error = f"{type(exc).__name__}: {exc}"
        answer = {"ok": True, "metadata": metadata, "challenger": challenger,
                  "champion": champion, "champion_error": champion_error}
    except TrainerError as exc:
        answer = {"ok": False, "kind": type(exc).__name__, "message": str(exc)}
    except BaseException as exc:
        traceback.print_exc()
        answer = {"ok": False, "kind": "TrainerCrashError",
                  "message": f"trainer raised {type(exc).__name__}: {exc}"}
    tmp = workdir / "result.pkl.tmp"
    tmp.write_bytes(pickle.dumps(answer))
    tmp.replace(workdir / "result.pkl")
    return 0


# -- parent side ---------------------------------------------------------------------------------
_ERRORS: dict[str, type[TrainerError]] = {
    cls.__name__: cls
    for cls in (TrainerLoadError, TrainerCrashError, TrainerOutputError, TrainerTimeoutError)
}


def _log_tail(workdir: Path, limit: int = 400) -> str:
    try:
        text = (workdir / "trainer.log").read_text(errors="replace").strip()
    except OSError:
        return ""
    return text[-limit:]


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_isolated(
    entry_point: str,
    request: TrainingRequest,
    holdout: np.ndarray,
    *,
    workdir: Path,
    timeout_s: float,
    champion_artifact: Path | None = None,
    champion_holdout: np.ndarray | None = None,
    cancel: threading.Event | None = None,
    python: str = sys.executable,
) -> TrainerOutput:
    """Train in a child process; raise a :class:`TrainerError` on any failure."""
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("result.pkl", "model.pkl"):
        (workdir / stale).unlink(missing_ok=True)
    job = {"entry_point": entry_point, "request": request, "holdout": holdout,
           "champion_artifact": str(champion_artifact) if champion_artifact else None,
           "champion_holdout": holdout if champion_holdout is None else champion_holdout}
    (workdir / "request.pkl").write_bytes(pickle.dumps(job))
    started = time.monotonic()
    with (workdir / "trainer.log").open("wb") as log:
        proc = subprocess.Popen(
            [python, "-m", "retrain_worker.trainer", str(workdir)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = started + timeout_s
    while proc.poll() is None:
        if cancel is not None and cancel.is_set():
            _kill_group(proc)
            raise TrainerCancelledError("training cancelled by the worker")
        if time.monotonic() >= deadline:
            _kill_group(proc)
            raise TrainerTimeoutError(f"trainer ran past its timeout of {timeout_s:g} s; killed")
        time.sleep(0.05)
    duration = time.monotonic() - started
    result_file = workdir / "result.pkl"
    if not result_file.exists():
        tail = _log_tail(workdir)
        raise TrainerCrashError(
            f"trainer process exited with code {proc.returncode} without an answer"
            + (f": {tail}" if tail else "")
        )
    answer = pickle.loads(result_file.read_bytes())
    if not answer.get("ok"):
        raise _ERRORS.get(answer.get("kind", ""), TrainerCrashError)(answer.get("message", "?"))
    challenger = answer["challenger"]
    if len(challenger) != len(holdout):
        raise TrainerOutputError("challenger predictions do not match the holdout")
    return TrainerOutput(
        artifact=workdir / "model.pkl",
        metadata=answer["metadata"],
        challenger_predictions=challenger,
        champion_predictions=answer["champion"],
        champion_error=answer["champion_error"],
        duration_s=duration,
    )


__all__ = [
    "TrainerOutput",
    "TrainingRequest",
    "TrainingResult",
    "load_entry_point",
    "run_isolated",
]


if __name__ == "__main__":
    # Re-import under the package name so TrainingResult is the class user trainers return.
    from retrain_worker.trainer import _child as child_main

    sys.exit(child_main(Path(sys.argv[1])))
