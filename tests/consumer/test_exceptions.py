"""The error tree drawn in :mod:`consumer.exceptions` is the tree of classes, exit codes included."""

from __future__ import annotations

import re

import consumer.exceptions
import retrain_worker.exceptions
from detectors.exceptions import DriftlineError

_LINE = re.compile(r"^\s*[│├└─ ]*(?P<name>[A-Z]\w+Error)\b(?P<rest>.*)$")


def _drawing() -> dict[str, int | None]:
    """Class name → the exit code drawn on its line or its continuation lines (None: none)."""
    doc = consumer.exceptions.__doc__ or ""
    found: dict[str, int | None] = {}
    current: str | None = None
    for line in doc.split("::", 1)[1].split("\n\n", 2)[1].splitlines():
        match = _LINE.match(line)
        if match:
            current = match["name"]
            found[current] = None
            rest = match["rest"]
        else:
            rest = line
        code = re.search(r"exit (\d)\s*$", rest)
        if code and current is not None:
            found[current] = int(code[1])
    return found


def _classes() -> list[type[BaseException]]:
    assert retrain_worker.exceptions  # imported: its classes are subclasses of the root
    seen: list[type[BaseException]] = []
    todo: list[type[BaseException]] = [DriftlineError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith(("consumer", "detectors", "retrain_worker")):
            seen.append(cls)
        todo.extend(cls.__subclasses__())
    return seen


def test_every_error_class_is_drawn_with_its_exit_code() -> None:
    drawing = _drawing()
    classes = {cls.__name__: cls for cls in _classes()}
    assert set(drawing) == set(classes)
    for name, cls in classes.items():
        code = drawing[name]
        if code is not None:
            assert code == cls.exit_code, name  # type: ignore[attr-defined]
        else:
            assert cls.exit_code == 1 or name in {"AbortableTransactionError"}, (  # type: ignore[attr-defined]
                f"{name} exits {cls.exit_code} but the drawing shows no exit code")  # type: ignore[attr-defined]


def test_the_drawing_nests_classes_as_they_inherit() -> None:
    doc = (consumer.exceptions.__doc__ or "").split("::", 1)[1].split("\n\n", 2)[1]
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = _LINE.match(line)
        if not match:
            continue
        depth = line.index(match["name"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        cls = next(c for c in _classes() if c.__name__ == match["name"])
        if stack:
            parent = next(c for c in _classes() if c.__name__ == stack[-1][1])
            assert cls.__bases__[0] is parent or parent in cls.__mro__[1:2], match["name"]
        stack.append((depth, match["name"]))
