"""``driftline consume``: ``--print-config`` masks secrets; a bad config exits 2 naming the field."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.consumer.helpers import DRIFTLINE, REPO

pytestmark = pytest.mark.slow


def test_print_config_masks_secrets_and_bad_config_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text(yaml.safe_dump({
        "kafka": {"bootstrap.servers": "b:9092", "sasl.password": "hunter2"},
        "consumer": {"producer_properties": {"ssl.key.password": "swordfish"}}}))
    out = subprocess.run([*DRIFTLINE, "consume", "--config", str(path), "--print-config"],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    dumped = yaml.safe_load(out)
    assert dumped["kafka"]["sasl.password"] == "***"
    assert dumped["consumer"]["producer_properties"]["ssl.key.password"] == "***"
    assert dumped["consumer"]["commit_interval_ms"] == 200
    # Driftline's own settings are never masked, "key" in their names or not.
    assert dumped["detection"]["max_tracked_keys"] == 10_000
    assert dumped["detection"]["idle_key_ttl_s"] == 604_800
    assert "hunter2" not in out and "swordfish" not in out
    path.write_text(yaml.safe_dump({"consumer": {"batch_size": "lots"}}))
    bad = subprocess.run([*DRIFTLINE, "consume", "--config", str(path)], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2
    assert "consumer.batch_size" in bad.stderr
