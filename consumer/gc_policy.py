"""Garbage collection for a long-running consumer: the detection state kept out of the collector's walks.

CPython's cyclic collector runs a full collection (its oldest generation) whenever the objects
that survived into that generation since the last full one reach a quarter of those it held
then, and a full collection walks every tracked object, reachable or not. The detection state is
millions of long-lived objects (monitors, River detectors, windows, the join's entries), so each
full collection stalls the processing thread for a time that grows with the state: 1.1 s at
100 000 keys with three detectors, 3.7 s with the default detection (``bench/gc_pauses.py``).
Walking that state finds nothing: the detection core makes no reference cycles (the same bench
counts the garbage a full collection finds after a long run).

Contract:

* :func:`tune_gc` (at start): the young generation is collected every :data:`GC_GEN0_THRESHOLD`
  allocations (never fewer than Python's default), as before this module.
* :meth:`HeapPolicy.after_commit` (after every committed transaction): at most every
  :data:`FREEZE_INTERVAL_S`, ``gc.freeze()``: every object alive then moves to the permanent
  generation, which no automatic collection walks, so a full collection walks only what survived
  since the last freeze (seconds of allocations, not the whole state). ``gc.freeze()`` is a
  constant-time list splice. Frozen objects are still freed by reference counting when dropped
  (a swept key, a revoked partition's pipeline).
* A reference cycle that becomes garbage while frozen is not reclaimed (the detection core and
  the service make none per record: ``bench/gc_pauses.py`` and its results). When
  ``full_sweep_interval_s`` (``consumer.gc_full_sweep_interval_s``) is set, every that many
  seconds, right after a commit (the outputs are already visible): ``gc.unfreeze()``, one full
  collection, ``gc.freeze()``: one stall the size of a full collection, at a known time, logged
  with its duration and what it found (``sweeps``, ``last_sweep_s``, ``last_sweep_found``).
* :meth:`HeapPolicy.release` (the service stops): everything unfrozen.

>>> import gc
>>> clock = iter([0.0, 0.0, 0.2, 0.6]).__next__  # seconds: start, then three commits
>>> policy = HeapPolicy(full_sweep_interval_s=0, clock=clock)
>>> policy.after_commit(), policy.after_commit()  # frozen at 0 s; 0.2 s later: too soon
(True, False)
>>> policy.after_commit()  # 0.6 s after the last freeze
True
>>> gc.unfreeze()
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

#: Allocations between two young-generation garbage collections while the service runs. The hot
#: path allocates a few short-lived objects per record (no reference cycles); with Python's
#: default (700) the collector ran every few dozen records, ~15 % of the loop's CPU.
GC_GEN0_THRESHOLD = 50_000

#: Least seconds between two freezes: what any collection may have to walk is bounded by what
#: survives this long (with 5 s, the middle generation's collections still took 90-190 ms at
#: 20 000-100 000 keys; with 0.5 s there were none, bench/gc_pauses.py).
FREEZE_INTERVAL_S = 0.5


def tune_gc() -> None:
    """Raise the young-generation GC threshold to :data:`GC_GEN0_THRESHOLD` (never lower it).

    Process-wide. Cyclic garbage is found later (the hot path makes little of it); nothing else
    changes.
    """
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


class HeapPolicy:
    """When to freeze the heap and when to sweep it whole (module docstring)."""

    def __init__(self, *, full_sweep_interval_s: float,
                 freeze_interval_s: float = FREEZE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.full_sweep_interval_s = full_sweep_interval_s
        self.freeze_interval_s = freeze_interval_s
        self._clock = clock
        now = clock()
        self._next_freeze = now
        self._next_sweep = now + full_sweep_interval_s
        self.sweeps = 0
        self.last_sweep_s = 0.0
        self.last_sweep_found = 0

    def after_commit(self) -> bool:
        """Freeze (or sweep, then freeze) when due; whether it did."""
        now = self._clock()
        if now < self._next_freeze:
            return False
        if self.full_sweep_interval_s > 0 and now >= self._next_sweep:
            self._sweep()
            now = self._clock()
            self._next_sweep = now + self.full_sweep_interval_s
        gc.freeze()
        self._next_freeze = now + self.freeze_interval_s
        return True

    def release(self) -> None:
        """The service stops: every frozen object back in the collector's care (in-process
        runs, such as tests, leave the host's heap as they found it)."""
        gc.unfreeze()

    def _sweep(self) -> None:
        began = time.perf_counter()
        gc.unfreeze()
        found = gc.collect()
        self.last_sweep_s = time.perf_counter() - began
        self.last_sweep_found = found
        self.sweeps += 1
        log.info("garbage collection: full sweep of the heap took %.2f s and found %d "
                 "unreachable objects (every consumer.gc_full_sweep_interval_s)",
                 self.last_sweep_s, found)
