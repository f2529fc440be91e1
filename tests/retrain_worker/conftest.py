"""Fixtures of the retrain worker tests: misbehaving trainers on the child's import path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture
def bad_trainers_on_path(monkeypatch: pytest.MonkeyPatch) -> str:
    """Put ``bad_trainers`` on the trainer child's import path; return the module name."""
    path = os.pathsep.join(filter(None, [str(HERE), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    return "bad_trainers"
