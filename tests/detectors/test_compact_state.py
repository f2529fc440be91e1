"""The compact per-key state against the layouts it replaced, on random streams.

The rolling windows (byte codes / an ``array`` ring instead of a deque), the ``error`` bits (a
buffer that grows instead of 4,096 bytes up front) and the trails (arrays made at the first kept
sample) must read exactly as before: every metric the same float, the same counts per class, and a
state pickled in an old layout restoring into the new one. (A window of bits counts its classes
in four integers and makes per-class dicts only when a class that is not a bit comes, with keys
False and True in that order: the order, and the bool or int object of those two classes, are
read by no metric, so every metric is compared bit for bit at every update instead.)
"""

from __future__ import annotations

import math
import pickle
from collections import deque
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from detectors.change_point import RecentBits, SampleTrail
from detectors.contracts import Source
from detectors.performance import ClassificationWindow, RegressionWindow


class OldClassificationWindow:
    """The window as it was (be2d5c5): a deque of pairs and three count dicts."""

    def __init__(self, size: int, positive: Any = None) -> None:
        self.size, self.positive = size, positive
        self.pairs: deque[tuple[Any, Any]] = deque()
        self.correct = 0
        self.tp: dict[Any, int] = {}
        self.predicted: dict[Any, int] = {}
        self.actual: dict[Any, int] = {}

    def update(self, predicted: Any, actual: Any) -> None:
        def inc(counts: dict[Any, int], key: Any) -> None:
            counts[key] = counts.get(key, 0) + 1

        def dec(counts: dict[Any, int], key: Any) -> None:
            left = counts[key] - 1
            if left:
                counts[key] = left
            else:
                del counts[key]

        if len(self.pairs) >= self.size:
            old_p, old_a = self.pairs.popleft()
            dec(self.predicted, old_p)
            dec(self.actual, old_a)
            if old_p == old_a:
                self.correct -= 1
                dec(self.tp, old_a)
        self.pairs.append((predicted, actual))
        inc(self.predicted, predicted)
        inc(self.actual, actual)
        if predicted == actual:
            self.correct += 1
            inc(self.tp, actual)

    def state(self) -> dict[str, Any]:
        """The slots' dict a snapshot of the old class held."""
        return {"actual": self.actual, "correct": self.correct, "pairs": self.pairs,
                "positive": self.positive, "predicted": self.predicted, "size": self.size,
                "tp": self.tp}


def _same_float(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a.hex() == b.hex()


def _compare(new: ClassificationWindow, old: OldClassificationWindow) -> None:
    assert new.pairs == list(old.pairs)
    assert new.full == (len(old.pairs) >= old.size)
    assert new.class_counts() == (old.tp, old.predicted, old.actual)
    assert new.correct == old.correct
    for name in ("accuracy", "precision", "recall", "f1"):
        assert _same_float(new.metric(name), _reference_metric(old, name))


def _main_state(old: OldClassificationWindow) -> dict[str, Any]:
    """The slots' dict a snapshot of the window held at 763aeaf: kinds (first-seen), byte codes
    (a ring: here from its start), the count dicts."""
    kinds: list[tuple[Any, Any]] = []
    codes = bytearray()
    for pair in old.pairs:
        if pair not in kinds:
            kinds.append(pair)
        codes.append(kinds.index(pair))
    return {"actual": dict(old.actual), "codes": codes, "correct": old.correct, "kinds": kinds,
            "positive": old.positive, "predicted": dict(old.predicted), "size": old.size,
            "start": 0, "tp": dict(old.tp)}


CLASSES = st.sampled_from([True, False, 0, 1, 2, "a", "b", "c"])


@settings(max_examples=150, deadline=None)
@given(
    pairs=st.lists(st.tuples(CLASSES, CLASSES), max_size=120),
    size=st.integers(1, 40),
    positive=st.sampled_from([None, True, "a", 2]),
)
def test_classification_window_is_the_old_one(pairs: list[tuple[Any, Any]], size: int,
                                              positive: Any) -> None:
    new, old = ClassificationWindow(size, positive), OldClassificationWindow(size, positive)
    for predicted, actual in pairs:
        new.update(predicted, actual)
        old.update(predicted, actual)
        _compare(new, old)  # the metrics too, the old way: the old class's loop over its dicts
    # a snapshot of each old layout restores into the new one and carries on alike
    restored = ClassificationWindow.__new__(ClassificationWindow)
    restored.__setstate__(pickle.loads(pickle.dumps(old.state())))
    from_main = ClassificationWindow.__new__(ClassificationWindow)
    from_main.__setstate__(pickle.loads(pickle.dumps(_main_state(old))))
    assert from_main.bits == restored.bits == all(
        p.__class__ in (bool, int) and p in (0, 1) for pair in old.pairs for p in pair)
    again = pickle.loads(pickle.dumps(new))
    for predicted, actual in pairs[:25]:
        for window in (restored, from_main, again):
            window.update(predicted, actual)
        old.update(predicted, actual)
        _compare(restored, old)
        _compare(from_main, old)
        _compare(again, old)
    for name in ("accuracy", "precision", "recall", "f1"):
        assert _same_float(restored.metric(name), _reference_metric(old, name))


def _reference_metric(old: OldClassificationWindow, name: str) -> float:
    """The metric exactly as the old ``ClassificationWindow.metric`` computed it."""
    n = len(old.pairs)
    if name == "accuracy":
        return old.correct / n if n else 0.0
    positive = old.positive
    if positive is None:
        positive = True
        for counts in (old.predicted, old.actual):
            for c in counts:
                if c is True or c is False:
                    continue
                if not isinstance(c, int) or c not in frozenset({True, False}):
                    positive = None
    classes = [positive] if positive is not None else old.predicted.keys() | old.actual.keys()
    total = 0.0
    for c in classes:
        tp = old.tp.get(c, 0)
        if name == "precision":
            denominator = old.predicted.get(c, 0)
            total += tp / denominator if denominator else 0.0
        elif name == "recall":
            denominator = old.actual.get(c, 0)
            total += tp / denominator if denominator else 0.0
        else:
            denominator = old.predicted.get(c, 0) + old.actual.get(c, 0)
            total += 2 * tp / denominator if denominator else 0.0
    return total / len(classes) if classes else 0.0


def test_more_than_255_kinds_widen_the_codes() -> None:
    new, old = ClassificationWindow(50), OldClassificationWindow(50)
    for i in range(400):
        new.update(i % 23, i % 19)
        old.update(i % 23, i % 19)
    _compare(new, old)
    assert len(new.kinds) > 256 and new.codes.__class__ is not bytearray
    assert _same_float(new.metric("f1"), _reference_metric(old, "f1"))


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0, 1e6, allow_nan=False), max_size=80), size=st.integers(1, 30))
def test_regression_window_is_the_old_one(values: list[float], size: int) -> None:
    new = RegressionWindow(size)
    residuals: deque[float] = deque()
    total = 0.0
    old_state = None
    for i, x in enumerate(values):
        new.update(x)
        if len(residuals) >= size:
            total -= residuals.popleft()
        residuals.append(x)
        total += x
        assert new.total.hex() == total.hex() and len(new) == len(residuals)
        assert new.metric("mae").hex() == (total / len(residuals)).hex()
        if i == len(values) // 2:
            old_state = {"residuals": deque(residuals), "size": size, "total": total}
    if old_state is None:
        return
    restored = RegressionWindow.__new__(RegressionWindow)
    restored.__setstate__(old_state)
    replay = RegressionWindow(size)
    for x in values[: len(values) // 2 + 1]:
        replay.update(x)
    for x in values:
        restored.update(x)
        replay.update(x)
        assert restored.total.hex() == replay.total.hex()
        assert restored.metric("mae").hex() == replay.metric("mae").hex()


@settings(max_examples=100, deadline=None)
@given(bits=st.lists(st.integers(0, 1), max_size=60), capacity=st.integers(1, 20),
       since=st.integers(1, 25))
def test_recent_bits_grow_and_read_as_the_preallocated_buffer(bits: list[int], capacity: int,
                                                              since: int) -> None:
    grown = RecentBits(capacity)
    old = RecentBits(capacity)
    old.buffer = bytearray(capacity)  # the layout before: the whole buffer up front
    for i, bit in enumerate(bits):
        grown.append(bit)
        old.append(bit)
        assert len(grown.buffer) == min(i + 1, capacity)
        for last in (1, since, capacity):
            assert grown.values(last) == old.values(last)
        assert grown.change_point(n=i + 1, since=since) == old.change_point(n=i + 1, since=since)


def test_a_trail_keeps_no_arrays_until_its_first_sample() -> None:
    trail = SampleTrail(every=4, capacity=3)
    assert trail.locate(1) is None and trail.kept == []
    assert pickle.loads(pickle.dumps(trail)).kept == []
    for count in range(1, 21):
        trail.record(count, 1_000 + count, Source(topic="t", partition=0, offset=count))
    assert trail.kept == [12, 16, 20]
    found = trail.locate(13)
    assert found is not None and found[1].offset == 16


def test_macro_metrics_after_bits_are_the_old_ones_whatever_the_classes_hashes() -> None:
    """A window of bits that meets other classes: its dicts, made then (False before True),
    give every macro metric bit for bit, with classes whose hashes share the set slots of
    False and True (20 strings: some collide in every process)."""
    import random

    rng = random.Random(5)
    others: list[Any] = [f"class-{i}" for i in range(20)] + [2, 8, 9, 16, 17]
    for _ in range(300):
        size = rng.randint(1, 12)
        new, old = ClassificationWindow(size), OldClassificationWindow(size)
        for _ in range(rng.randint(0, 30)):  # bits first, either order of False and True
            pair = (rng.choice([True, False, 0, 1]), rng.choice([True, False, 0, 1]))
            new.update(*pair)
            old.update(*pair)
        mixed = [True, False, 1, 0, *rng.sample(others, 3)]
        for _ in range(rng.randint(1, 40)):
            pair = (rng.choice(mixed), rng.choice(mixed))
            new.update(*pair)
            old.update(*pair)
            _compare(new, old)
