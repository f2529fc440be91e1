"""Does compiling the detection core with mypyc pay? ``pipeline_only``, pure vs compiled.

Exports one commit of this repository twice (``git archive``) into a work directory: ``pure``
as it is, ``compiled`` with the modules of ``--modules`` compiled in place by mypyc (the
``mypyc`` command that ships with mypy, a dev dependency; it needs a C compiler and the Python
headers). Then runs ``bench/pipeline_ab.py`` on the two trees: CPU µs per event timed in
alternating fresh processes, or, with ``--instructions``, instructions per event under
callgrind (which the machine's load does not move). First, the compiled tree's pipeline is
checked against the pure one's on the bench stream: every batch's outputs, and every model's
snapshot (``Pipeline.snapshot_model``) every 20,000 events and at the end,
byte for byte (on by default; ``--no-check`` skips it).

    .venv/bin/python bench/compiled_ab.py --work /tmp/compile-ab --rounds 6
    .venv/bin/python bench/compiled_ab.py --work /tmp/compile-ab --reuse --instructions

``--reuse`` keeps an already built work directory (a build takes minutes: mypyc type-checks
the whole import graph, numpy, scipy and pydantic included, before gcc runs).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: The hot modules that compile and import (dotted names). Not in it: the modules defining a
#: pydantic spec with ``Field(...)`` defaults (category_drift, shape_drift, rate_shift and the
#: modules importing its spec: data_quality, new_category; estimated_performance, joint_drift):
#: mypyc checks ``stride: int = Field(default=50)`` at import and refuses it ("int object
#: expected; got pydantic.fields.FieldInfo"); performance (mypyc 2.4.1 crashes on
#: ``cls.__new__(cls)`` in ``PerformanceAlerts.restored``); labelled and encoding (msgspec
#: Structs, left out untried).
DEFAULT_MODULES = (
    "detectors.monitor detectors.feature_watch detectors.pipeline detectors.join "
    "detectors.lifecycle detectors.running_clip detectors.decoding detectors.change_point"
)

CHECK = """
import hashlib, re, sys
sys.path[:0] = ["bench", "."]
import consumer_throughput as ct
from consumer.batch import Decoder
from detectors.contracts import LabelledRecord
from detectors.encoding import drift_event_json
from detectors.labelled import labelled_json
from detectors.pipeline import Pipeline
from detectors.rejection import Rejection
import detectors.monitor
print("compiled" if detectors.monitor.__file__.endswith(".so") else "pure", file=sys.stderr)
items = ct.events({n})
decode, pipeline, digest = Decoder().decode, Pipeline(None), hashlib.sha256()
for start in range(0, len(items), 1000):
    records = []
    for offset in range(start, min(start + 1000, len(items))):
        event = decode(items[offset][1], items[offset][0], "bench", 0, offset)
        if event.__class__ is not Rejection:
            records.append((event, ("bench", 0, offset), items[offset][1]))
    for index, out in pipeline.process_batch(records):
        digest.update(repr(index).encode())
        digest.update(labelled_json(out) if out.__class__ is LabelledRecord else
                      repr(out).encode() if out.__class__ is Rejection else
                      re.sub(rb'"published_at":"[^"]*"', b"", drift_event_json(out)))  # wall clock
    if start % 20000 == 0:
        for model_id in sorted(pipeline.model_ids()):
            digest.update(pipeline.snapshot_model(model_id))
for model_id in sorted(pipeline.model_ids()):
    digest.update(pipeline.snapshot_model(model_id))
print(digest.hexdigest())
"""


def _export(commit: str, into: Path) -> None:
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True,
                             check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)


def build(work: Path, commit: str, modules: list[str]) -> float:
    """Export ``commit`` as ``work/pure`` and ``work/compiled``; compile the latter. Seconds."""
    if work.exists():
        shutil.rmtree(work)
    _export(commit, work / "pure")
    _export(commit, work / "compiled")
    files = [m.replace(".", "/") + ".py" for m in modules]
    mypyc = Path(sys.executable).with_name("mypyc")
    start = time.monotonic()
    done = subprocess.run([str(mypyc), *files], cwd=work / "compiled", capture_output=True,
                          text=True)
    seconds = time.monotonic() - start
    if done.returncode != 0 or not all(
            any((work / "compiled").glob(m.replace(".", "/") + ".*.so")) for m in modules):
        sys.exit(f"mypyc failed after {seconds:.0f} s:\n{done.stdout[-4000:]}{done.stderr[-4000:]}")
    print(f"compiled {len(modules)} modules in {seconds:.0f} s", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="work directory (replaced)")
    parser.add_argument("--commit", default="HEAD")
    parser.add_argument("--modules", default=DEFAULT_MODULES, help="dotted names, space-separated")
    parser.add_argument("--reuse", action="store_true", help="keep an existing build in --work")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--instructions", action="store_true")
    parser.add_argument("--no-check", dest="check", action="store_false")
    parser.add_argument("--json", help="pipeline_ab's figures, to this file")
    args = parser.parse_args()
    modules = args.modules.split()
    if not (args.reuse and (args.work / "compiled").exists()):
        build(args.work, args.commit, modules)
    if args.check:
        digests = {}
        for name in ("pure", "compiled"):
            out = subprocess.run([sys.executable, "-c", CHECK.format(n=args.events)],
                                 cwd=args.work / name, capture_output=True, text=True,
                                 env={**os.environ, "PYTHONHASHSEED": "0"})
            if out.returncode != 0:  # e.g. the compiled build cannot pickle a key monitor
                sys.exit(f"{name} build fails the check:\n{out.stderr[-3000:]}")
            digests[name] = out.stdout.strip()
            print(f"{name:8} ({out.stderr.strip()}): outputs + snapshots sha256 {digests[name]}")
        if digests["pure"] != digests["compiled"]:
            sys.exit("compiled and pure builds differ in outputs or snapshots")
    ab = [sys.executable, str(ROOT / "bench" / "pipeline_ab.py"),
          "--before", str(args.work / "pure"), "--after", str(args.work / "compiled"),
          "--rounds", str(args.rounds), "--events", str(args.events)]
    if args.instructions:
        ab.append("--instructions")
    if args.json:
        ab += ["--json", args.json]
    subprocess.run(ab, check=True)
    if args.json:
        figures = json.loads(Path(args.json).read_text())
        figures["compiled_modules"] = modules
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")


if __name__ == "__main__":
    main()
