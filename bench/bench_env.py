"""What the benchmarks share: the machine they ran on, and the venvs of the tools they compare with.

* :func:`machine` describes this machine for a result file (CPU model, cores, Python,
  librdkafka, River).
* :func:`venv_python` returns the Python of a venv holding exactly ``packages`` (from PyPI),
  making it on first use and again whenever the package list changes (a marker file in the venv
  records the list it was made with).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import confluent_kafka
import river


def machine() -> dict[str, Any]:
    """CPU model, cores, and the versions that move the figures."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "librdkafka": confluent_kafka.libversion()[0], "river": river.__version__}


def venv_python(venv: Path, packages: Sequence[str]) -> Path:
    """The Python of ``venv`` with ``packages`` installed (made or remade when they change)."""
    python = venv / "bin" / "python"
    marker = venv / ".driftline-bench"
    wanted = " ".join(packages)
    if not marker.exists() or marker.read_text() != wanted:
        print(f"making {venv} ({wanted}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], check=True)
        marker.write_text(wanted)
    return python
