"""Memory and CPU of one real ``driftline consume`` process, then of ``driftline retrain-worker``:
the figures behind the Kubernetes resource requests and limits in ``deploy/kubernetes/``.

One run against a real broker (started from the Maven jars with ``scripts/kafka`` unless
``--bootstrap`` is given), one partition per topic, the default detection config:

* **backlog** — ``driftline simulate`` first produces ``--models`` × ``--samples`` predictions
  (80 % labelled, 5 s label delay, a sudden concept and feature drift half-way), then the consumer
  starts and drains them as fast as it can: the CPU time per event, the events/s and the peak RSS
  (``VmHWM``) of a consumer catching up.
* **steady** — while the same consumer runs, ``driftline simulate --realtime`` produces at
  ``--rate`` predictions/s per model for ``--seconds``: the CPU cores and the RSS at that rate.

* **worker** — ``driftline retrain-worker`` then starts on the run's drift events (default
  policy and trainer): its CPU and RSS, trainer processes included, until one retrain event per
  model is out.

RSS and CPU come from ``/proc/<pid>`` (Linux), sampled every 0.5 s (the worker every 0.1 s).
Results go to ``bench/results/service_resources.{json,md}``.

Usage::

    .venv/bin/python bench/service_resources.py [--bootstrap HOST:PORT] [--models 3]
                                                 [--samples 20000] [--rate 100] [--seconds 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import yaml
from bench_env import machine as bench_machine
from confluent_kafka import Consumer, KafkaException, TopicPartition

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
#: Seconds without the consumer's committed offsets moving before the backlog phase gives up.
STALL_S = 180


def proc_sample(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, RSS bytes, peak RSS bytes) of ``pid`` from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    status = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text()
                  .splitlines() if ":" in line)
    rss = int(status["VmRSS"].split()[0]) * 1024
    hwm = int(status["VmHWM"].split()[0]) * 1024
    return cpu, rss, hwm


def tree_sample(pid: int) -> tuple[float, int]:
    """(CPU seconds of ``pid`` and its reaped children, RSS bytes of ``pid`` and its live
    descendants) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = sum(int(f) for f in fields[11:15]) / TICKS
    rss, todo = 0, [pid]
    while todo:
        current = todo.pop()
        try:
            rss += proc_sample(current)[1]
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, KeyError, IndexError):
            continue
        todo.extend(int(c) for c in children)
    return cpu, rss


class Sampler(threading.Thread):
    """RSS samples of a process every ``interval`` seconds until stopped."""

    def __init__(self, pid: int, interval: float = 0.5, tree: bool = False) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.tree = pid, interval, tree
        self.rss: list[int] = []
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.rss.append(tree_sample(self.pid)[1] if self.tree
                                else proc_sample(self.pid)[1])
            except (OSError, KeyError, IndexError):
                return

    def stop(self) -> list[int]:
        self._halt.set()
        self.join()
        return self.rss


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def committed_to_end(bootstrap: str, group: str, topics: list[str]) -> tuple[int, int]:
    """(committed offsets summed, end offsets summed) of ``group`` on ``topics``."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                      "enable.auto.commit": False})
    try:
        parts = [TopicPartition(t, p) for t in topics
                 for p in probe.list_topics(t, timeout=10).topics[t].partitions]
        end = sum(probe.get_watermark_offsets(tp, timeout=10)[1] for tp in parts)
        for attempt in range(20):  # the group coordinator may still be loading
            try:
                committed = sum(max(tp.offset, 0) for tp in probe.committed(parts, timeout=10))
                break
            except KafkaException:
                if attempt == 19:
                    raise
                time.sleep(0.5)
    finally:
        probe.close()
    return committed, end


def simulate(config: Path, args: argparse.Namespace, *extra: str) -> subprocess.CompletedProcess[str]:
    models = ",".join(f"m{i}" for i in range(args.models))
    return subprocess.run(
        [sys.executable, "-m", "driftline", "simulate", "--config", str(config),
         "--models", models, "--label-delay", "5", "--label-coverage", "0.8", *extra],
        capture_output=True, text=True, check=True)


def retrain_events(bootstrap: str, topic: str) -> int:
    """How many events the retrain topic holds."""
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4()}"})
    try:
        low, high = probe.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        probe.close()
    return int(high - low)


def measure_worker(bootstrap: str, config_path: Path, retrain_topic: str, models: int,
                   workdir: Path) -> dict[str, Any]:
    """``driftline retrain-worker`` on the drift events of the run (default policy: the last
    5000 labelled records of each model): CPU and RSS of the worker and its trainer processes
    until one retrain event per model is published."""
    config = yaml.safe_load(config_path.read_text())
    config["worker"] = {"metrics_port": 0, "registry_root": str(workdir / "models"),
                        "group_id": f"{config['consumer']['group_id']}-worker",
                        "transactional_id": f"{config['consumer']['group_id']}-worker-0"}
    worker_config = workdir / "worker.yaml"
    worker_config.write_text(yaml.safe_dump(config))
    log = (workdir / "worker.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "driftline", "retrain-worker", "--config",
                             str(worker_config)], stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(proc.pid, interval=0.1, tree=True)
    sampler.start()
    began = time.monotonic()
    try:
        time.sleep(5)
        _, idle_rss = tree_sample(proc.pid)
        while retrain_events(bootstrap, retrain_topic) < models:
            assert proc.poll() is None, (workdir / "worker.log").read_text()[-2000:]
            assert time.monotonic() - began < 600, "no retrain events"
            time.sleep(0.5)
        time.sleep(1)
        cpu, _ = tree_sample(proc.pid)
        rss = sampler.stop()
    finally:
        proc.terminate()
        proc.wait(60)
    mib = 1024 * 1024
    return {"retrains": models, "seconds": round(time.monotonic() - began, 1),
            "cpu_s": round(cpu, 2), "idle_rss_mib": round(idle_rss / mib, 1),
            "peak_sampled_rss_mib": round(max(rss, default=0) / mib, 1)}


def run(bootstrap: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    prefix = f"res-{uuid.uuid4().hex[:8]}"
    topics = {name: f"{prefix}.{name}" for name in
              ("predictions", "labels", "drift", "triggers", "retrain", "labelled", "state", "dlq")}
    port = free_port()
    config = {"kafka": {"bootstrap.servers": bootstrap}, "topics": topics,
              "topic_layout": {"partitions": 1, "replication_factor": 1},
              "consumer": {"group_id": f"{prefix}-consumer", "metrics_host": "127.0.0.1",
                           "metrics_port": port}}
    config_path = workdir / "driftline.yaml"
    config_path.write_text(yaml.safe_dump(config))
    subprocess.run([sys.executable, "-m", "driftline", "topics", "create", "--config",
                    str(config_path)], check=True, capture_output=True)

    simulate(config_path, args, "--samples", str(args.samples), "--rate", "50",
             "--drift", f"sudden:start={args.samples // 2},concept_rotation=90,feature_shift=2")
    inputs = [topics["predictions"], topics["labels"]]
    _, backlog = committed_to_end(bootstrap, config["consumer"]["group_id"], inputs)

    log = (workdir / "consumer.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "driftline", "consume", "--config",
                             str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    sampler = Sampler(proc.pid)
    sampler.start()
    try:
        started = time.monotonic()
        while not ready(port):
            assert proc.poll() is None, (workdir / "consumer.log").read_text()[-2000:]
            time.sleep(0.1)
        began = time.monotonic()
        cpu0, rss_ready, _ = proc_sample(proc.pid)
        progress = (-1, time.monotonic())  # committed offsets, and when they last moved
        while True:
            assert proc.poll() is None, (workdir / "consumer.log").read_text()[-2000:]
            done, end = committed_to_end(bootstrap, config["consumer"]["group_id"], inputs)
            if end and done >= end:
                break
            if done != progress[0]:
                progress = (done, time.monotonic())
            assert time.monotonic() - progress[1] < STALL_S, (
                f"committed offsets stuck at {done} of {end} for {STALL_S} s:\n"
                + (workdir / "consumer.log").read_text()[-3000:])
            time.sleep(0.5)
        drain_s = time.monotonic() - began
        cpu1, rss_after_backlog, hwm_backlog = proc_sample(proc.pid)
        backlog_rss = sampler.stop()

        sampler = Sampler(proc.pid)
        sampler.start()
        t0 = time.monotonic()
        simulate(config_path, args, "--samples", str(int(args.rate * args.seconds)),
                 "--rate", str(args.rate), "--realtime", "--seed", "7")
        produced_s = time.monotonic() - t0
        time.sleep(6)  # the last labels' delay
        steady_s = time.monotonic() - t0
        cpu2, rss_steady, hwm = proc_sample(proc.pid)
        steady_rss = sampler.stop()
        worker = measure_worker(bootstrap, config_path, topics["retrain"], args.models, workdir)
        steady_events = committed_to_end(
            bootstrap, config["consumer"]["group_id"], inputs)[1] - end
    finally:
        proc.terminate()
        proc.wait(30)
    mib = 1024 * 1024
    return {
        "worker": worker,
        "startup": {"ready_s": round(began - started, 2), "rss_at_ready_mib": round(rss_ready / mib, 1)},
        "backlog": {
            "events": backlog,
            "drain_s": round(drain_s, 2),
            "events_per_s": round(backlog / drain_s, 1),
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_us_per_event": round((cpu1 - cpu0) / backlog * 1e6, 1),
            "cores": round((cpu1 - cpu0) / drain_s, 2),
            "peak_rss_mib": round(hwm_backlog / mib, 1),
            "rss_after_mib": round(rss_after_backlog / mib, 1),
            "max_sampled_rss_mib": round(max(backlog_rss, default=0) / mib, 1),
        },
        "steady": {
            "rate_predictions_per_s": args.rate * args.models,
            "events": steady_events,
            "seconds": round(steady_s, 1),
            "cpu_s": round(cpu2 - cpu1, 2),
            "produced_s": round(produced_s, 1),
            # the CPU of the whole window spread over the time events were arriving
            "cores": round((cpu2 - cpu1) / produced_s, 3),
            "cpu_us_per_event": round((cpu2 - cpu1) / max(steady_events, 1) * 1e6, 1),
            "rss_mib": round(rss_steady / mib, 1),
            "max_sampled_rss_mib": round(max(steady_rss, default=0) / mib, 1),
            "peak_rss_mib": round(hwm / mib, 1),
        },
    }


def machine() -> dict[str, Any]:
    return {**bench_machine(), "platform": platform.platform()}


def markdown(result: dict[str, Any]) -> str:
    b, s, m, w = result["backlog"], result["steady"], result["machine"], result["worker"]
    return "\n".join([
        "# `driftline consume` and `driftline retrain-worker`: memory and CPU",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores (shared), Python {m['python']}. "
        f"{result['models']} models, default detection config, one partition. Start-up to "
        f"`/readyz`: {result['startup']['ready_s']} s, RSS then "
        f"{result['startup']['rss_at_ready_mib']} MiB.",
        "",
        "| phase | events | events/s | CPU µs/event | cores | peak RSS (MiB) | RSS at end (MiB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        f"| backlog (drain as fast as possible) | {b['events']} | {b['events_per_s']} | "
        f"{b['cpu_us_per_event']} | {b['cores']} | {b['peak_rss_mib']} | {b['rss_after_mib']} |",
        f"| steady ({s['rate_predictions_per_s']} predictions/s + labels, {s['produced_s']} s) | "
        f"{s['events']} | {round(s['events'] / s['produced_s'], 1)} | {s['cpu_us_per_event']} | "
        f"{s['cores']} | {s['peak_rss_mib']} | {s['rss_mib']} |",
        "",
        "`driftline retrain-worker` on the same run's drift events (default policy, default "
        f"trainer): {w['retrains']} retrains in {w['seconds']} s, {w['cpu_s']} s CPU (worker and "
        f"trainer processes), RSS {w['idle_rss_mib']} MiB idle, {w['peak_sampled_rss_mib']} MiB "
        "peak (worker plus a running trainer, sampled every 0.1 s).",
        "",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--bootstrap")
    parser.add_argument("--models", type=int, default=3)
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="driftline-resources-") as tmp:
        workdir = Path(tmp)
        broker_dir = workdir / "kafka"
        bootstrap = args.bootstrap
        if bootstrap is None:
            bootstrap = subprocess.run([str(ROOT / "scripts" / "kafka"), "start", "--dir",
                                        str(broker_dir)], capture_output=True, text=True,
                                       check=True).stdout.strip().splitlines()[-1]
        try:
            result = run(bootstrap, args, workdir)
        finally:
            if args.bootstrap is None:
                subprocess.run([str(ROOT / "scripts" / "kafka"), "stop", "--dir",
                                str(broker_dir)], capture_output=True, check=False)
    result.update(machine=machine(), models=args.models, samples=args.samples)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "service_resources.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "service_resources.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
