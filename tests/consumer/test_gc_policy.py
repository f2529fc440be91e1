"""The heap policy: freezes after commits, at most every FREEZE_INTERVAL_S; sweeps whole when due."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from consumer.gc_policy import FREEZE_INTERVAL_S, HeapPolicy


@pytest.fixture(autouse=True)
def _unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _cycle() -> None:
    """Make a reference cycle and drop it: garbage only the cyclic collector reclaims."""
    a: list[object] = []
    a.append(a)


def test_freezes_what_is_alive_and_not_again_before_the_interval() -> None:
    clock = Clock()
    policy = HeapPolicy(full_sweep_interval_s=0, clock=clock)
    assert policy.after_commit()
    frozen = gc.get_freeze_count()
    assert frozen > 0
    kept = [[i] for i in range(1000)]
    clock.now += FREEZE_INTERVAL_S / 2
    assert not policy.after_commit()
    assert gc.get_freeze_count() == frozen
    clock.now += FREEZE_INTERVAL_S
    assert policy.after_commit()
    assert gc.get_freeze_count() >= frozen + len(kept)


def test_a_cycle_frozen_as_garbage_is_reclaimed_by_the_next_sweep() -> None:
    clock = Clock()
    policy = HeapPolicy(full_sweep_interval_s=60, clock=clock)
    gc.collect()
    gc.disable()  # the cycle must still be there when the heap is frozen
    try:
        _cycle()
        assert policy.after_commit()  # not a sweep yet: the cycle is frozen
        assert gc.collect() == 0  # a collection no longer sees it
        clock.now += 30
        policy.after_commit()
        assert policy.sweeps == 0
        clock.now += 31
        assert policy.after_commit()
        assert policy.sweeps == 1
        assert policy.last_sweep_found >= 1  # the list of the cycle
        assert gc.get_freeze_count() > 0  # frozen again after the sweep
    finally:
        gc.enable()


def test_no_sweep_when_turned_off() -> None:
    clock = Clock()
    policy = HeapPolicy(full_sweep_interval_s=0, clock=clock)
    for _ in range(5):
        clock.now += 10_000
        assert policy.after_commit()
    assert policy.sweeps == 0


def test_release_gives_the_heap_back_to_the_collector() -> None:
    policy = HeapPolicy(full_sweep_interval_s=0, clock=Clock())
    policy.after_commit()
    assert gc.get_freeze_count() > 0
    policy.release()
    assert gc.get_freeze_count() == 0
