"""``pipeline_only`` of two source trees side by side: CPU per event, before and after a change.

Each round runs :func:`consumer_throughput.run_pipeline_only` (decoder, ``Pipeline.process_batch``
in batches of 1,000, output encoding; no Kafka) on the bench stream (``events(N)``) once per
tree, each in a fresh process whose imports come from that tree, alternating the order every
round so drift in the machine's load hits both alike. Reported: CPU µs per event
(``time.process_time``) and events/s per run, their medians and minima, the ratio of medians,
the machine and the load average before and after.

    .venv/bin/python bench/pipeline_ab.py --before /tmp/main-tree --after . --rounds 8

(``/tmp/main-tree``: e.g. ``git archive main | tar -x -C /tmp/main-tree``.)

``--instructions`` instead counts instructions, which the machine's load does not move:
each tree runs under ``valgrind --tool=callgrind`` twice on the same pickled events, once with
the 20,000-event warm-up only and once with the warm-up and the full run; instructions per
event = the difference / N. (Slow: minutes per tree.)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CHILD = """
import json, sys
sys.path[:0] = ["bench", "."]
import consumer_throughput as ct
items = ct.events({n})
ct.run_pipeline_only(items[:20000])  # warm-up: imports, first keys
wall, cpu = ct.run_pipeline_only(items)
print(json.dumps([wall, cpu]))
"""


COUNTED = """
import pickle, sys
sys.path[:0] = ["bench", "."]
import consumer_throughput as ct
items = pickle.load(open({path!r}, "rb"))
ct.run_pipeline_only(items[:20000])
if {full}:
    ct.run_pipeline_only(items)
"""


def _instructions(tree: str, path: str, full: bool) -> int:
    """Instructions callgrind counts for the child (the warm-up, and the full run if ``full``)."""
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/cg.out",
             sys.executable, "-c", COUNTED.format(path=path, full=full)],
            cwd=tree, capture_output=True, text=True, check=True)
    return int(done.stderr.split("Collected : ")[1].split()[0])


def instructions(trees: dict[str, str], n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = f"{tmp}/events.pkl"
        subprocess.run([sys.executable, "-c", "import pickle, sys; sys.path[:0] = ['bench', '.']; "
                        "import consumer_throughput as ct; "
                        f"pickle.dump(ct.events({n}), open({path!r}, 'wb'))"],
                       cwd=trees["before"], check=True)
        runs = [(name, full) for name in trees for full in (False, True)]
        with ThreadPoolExecutor(len(runs)) as pool:  # four valgrind processes at once
            counts = dict(zip(runs, pool.map(
                lambda run: _instructions(trees[run[0]], path, full=run[1]), runs), strict=True))
        per_event = {}
        for name in trees:
            per_event[name] = (counts[name, True] - counts[name, False]) / n
            print(f"{name:6}: {per_event[name]:,.0f} instructions/event", flush=True)
    print(f"after / before: {per_event['after'] / per_event['before']:.3f}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _run(tree: str, n: int) -> tuple[float, float]:
    out = subprocess.run([sys.executable, "-c", CHILD.format(n=n)], cwd=tree,
                         capture_output=True, text=True, check=True)
    wall, cpu = json.loads(out.stdout.strip().splitlines()[-1])
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", required=True, help="source tree of the baseline")
    parser.add_argument("--after", required=True, help="source tree of the change")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--instructions", action="store_true",
                        help="count instructions under callgrind instead of timing")
    args = parser.parse_args()
    n = args.events
    trees = {"before": args.before, "after": args.after}
    if args.instructions:
        instructions(trees, n)
        return
    load_before = os.getloadavg()
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"load average {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}")
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(reversed(trees))
        for name in order:
            wall, cpu = _run(trees[name], n)
            runs[name].append((wall, cpu))
            print(f"round {r} {name:6}: {cpu / n * 1e6:6.2f} us CPU/event  {n / wall:8,.0f} events/s",
                  flush=True)
    load_after = os.getloadavg()
    summary = {}
    for name, timings in runs.items():
        cpus = [c / n * 1e6 for _, c in timings]
        rates = [n / w for w, _ in timings]
        summary[name] = {"cpu_us_median": statistics.median(cpus), "cpu_us_min": min(cpus),
                         "events_per_s_median": statistics.median(rates), "cpu_us": cpus}
        print(f"{name:6}: CPU us/event median {statistics.median(cpus):.2f}, min {min(cpus):.2f}; "
              f"events/s median {statistics.median(rates):,.0f}")
    ratio = summary["after"]["cpu_us_median"] / summary["before"]["cpu_us_median"]
    print(f"after / before, median CPU per event: {ratio:.3f}; load average after "
          f"{load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "machine": {"cpu": _cpu_model(), "cores": os.cpu_count(),
                        "python": platform.python_version()},
            "load_before": load_before, "load_after": load_after, "events": n,
            "rounds": args.rounds, "runs": summary, "after_over_before": ratio,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
