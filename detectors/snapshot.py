"""Versioned snapshot bytes: one model's detection state, refused whole when incompatible.

Layout::

    b"DLSNAP" | u32 header length (big endian) | header (JSON) | body (pickle)

The header records the snapshot ``format`` (:data:`FORMAT_VERSION`), the ``river`` and
``python`` versions that wrote it, the ``model_id``, and the SHA-256 and length of the body.
:func:`decode` checks all of them *before* unpickling, so a snapshot from another River version
(whose detector internals may differ), another format, another model, or a truncated or corrupt
one raises :class:`~detectors.exceptions.SnapshotError` and nothing is loaded.

The body is a pickle: snapshots are Driftline's own state, read back from Driftline's own
compacted state topic, never from untrusted parties.

Format 1 is a whole snapshot (:meth:`detectors.pipeline.Pipeline.snapshot_model`). Format 2
(:data:`SEGMENTED_FORMAT`) is what a checkpoint writes (:class:`ModelCheckpoint`): a head whose
label join lists sealed segments stored as snapshots of their own; a build that reads only
format 1 refuses it whole instead of restoring a join without its segments. Both are read.

>>> data = encode("m", {"answer": 42})
>>> decode(data, "m")
{'answer': 42}
>>> decode(data[:-1], "m")
Traceback (most recent call last):
...
detectors.exceptions.SnapshotError: snapshot of model 'm': body is 25 bytes, header says 26
"""

from __future__ import annotations

import hashlib
import json
import pickle
import struct
import sys
from dataclasses import dataclass
from typing import Any

import river

from detectors.exceptions import SnapshotError

__all__ = ["FORMAT_VERSION", "MAGIC", "SEGMENTED_FORMAT", "ModelCheckpoint", "decode", "encode",
           "read_header", "split"]

MAGIC = b"DLSNAP"
FORMAT_VERSION = 1
#: Heads whose join is segmented, and the segments (see the module docstring).
SEGMENTED_FORMAT = 2
_READS = (FORMAT_VERSION, SEGMENTED_FORMAT)


@dataclass(frozen=True)
class ModelCheckpoint:
    """What a checkpoint stores of one model: ``head``, the model's snapshot (format 2), and
    ``segments``, the sealed join segments that changed since its last checkpoint, by id
    (snapshots too). ``live``: the ids of every sealed segment the head lists (any other
    segment the store holds for the model is stale)."""

    head: bytes
    segments: dict[int, bytes]
    live: frozenset[int]
_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"


def encode(model_id: str, payload: Any, snapshot_format: int = FORMAT_VERSION) -> bytes:
    """Versioned bytes for ``payload`` (the model's state)."""
    body = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    header = json.dumps(
        {
            "format": snapshot_format,
            "river": river.__version__,
            "python": _PYTHON,
            "model_id": model_id,
            "sha256": hashlib.sha256(body).hexdigest(),
            "length": len(body),
        },
        sort_keys=True,
    ).encode()
    return MAGIC + struct.pack(">I", len(header)) + header + body


def read_header(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The header and body of snapshot bytes; :class:`SnapshotError` if they are not one."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise SnapshotError(f"snapshot must be bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + 4:
        raise SnapshotError("not a Driftline snapshot (bad magic bytes)")
    (length,) = struct.unpack(">I", data[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(data[start : start + length])
    except ValueError as exc:
        raise SnapshotError(f"snapshot header is not valid JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise SnapshotError("snapshot header is not a JSON object")
    return header, data[start + length :]


def decode(data: bytes, model_id: str) -> Any:
    """The payload of ``data``, after every compatibility and integrity check."""
    header, body = read_header(data)
    where = f"snapshot of model {header.get('model_id')!r}"
    if header.get("format") not in _READS:
        raise SnapshotError(
            f"{where}: format {header.get('format')!r}, this build reads "
            + " and ".join(map(str, _READS))
        )
    if header.get("river") != river.__version__:
        raise SnapshotError(
            f"{where}: written with River {header.get('river')}, this process runs River "
            f"{river.__version__}; detector state is not portable across River versions "
            "(start this model's detectors fresh instead)"
        )
    if header.get("python") != _PYTHON:
        raise SnapshotError(f"{where}: written by Python {header.get('python')}, this is {_PYTHON}")
    if header.get("model_id") != model_id:
        raise SnapshotError(f"{where}: expected a snapshot of model {model_id!r}")
    if header.get("length") != len(body):
        raise SnapshotError(
            f"{where}: body is {len(body)} bytes, header says {header.get('length')}"
        )
    if header.get("sha256") != hashlib.sha256(body).hexdigest():
        raise SnapshotError(f"{where}: checksum mismatch (corrupt body)")
    try:
        return pickle.loads(body)
    except Exception as exc:
        raise SnapshotError(f"{where}: cannot unpickle body: {exc!r}") from exc


def split(data: bytes | memoryview) -> tuple[bytes, memoryview]:
    """The first snapshot of ``data`` and the bytes after it (snapshots written back to back),
    without copying the rest; :class:`SnapshotError` if ``data`` does not start with one.

    >>> first, rest = split(encode("m", 1) + encode("m", 2))
    >>> decode(first, "m"), decode(bytes(rest), "m"), len(split(encode("m", 1))[1])
    (1, 2, 0)
    """
    view = memoryview(data)
    if bytes(view[: len(MAGIC)]) != MAGIC or len(view) < len(MAGIC) + 4:
        raise SnapshotError("not a Driftline snapshot (bad magic bytes)")
    (length,) = struct.unpack(">I", view[len(MAGIC) : len(MAGIC) + 4])
    start = len(MAGIC) + 4
    try:
        header = json.loads(bytes(view[start : start + length]))
        end = start + length + int(header["length"])
    except (ValueError, TypeError, KeyError) as exc:
        raise SnapshotError(f"snapshot header without a body length: {exc!r}") from exc
    return bytes(view[:end]), view[end:]
