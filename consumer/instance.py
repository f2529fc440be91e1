"""Which instance of a group this process is: the part of its ``transactional.id`` that must be
unique per running process, and stable across the process's own restarts.

Why both: two processes with one ``transactional.id`` fence each other (the older exits 6), so
"one process per core, same group" on one host needs a different id per process. And a
restarted process should come back with *its* id: ``init_transactions`` with the same id aborts
the transaction its previous incarnation left open at once, instead of readers waiting up to
``transaction.timeout.ms`` for the broker to expire it.

Contract (:func:`claim_instance`):

* A configured id (``consumer.instance_id``; in Kubernetes, the pod name through
  ``DRIFTLINE_CONSUMER__INSTANCE_ID``) is used as it is: the operator owns its uniqueness.
* Otherwise the id is ``<host name>-<slot>``: the slot is the lowest number whose lock file
  (``<lock dir>/<group>-<host>-<slot>.lock``, lock dir ``$DRIFTLINE_LOCK_DIR`` or the system
  temp dir) this process can ``flock``. The lock is held while the process runs and released by
  the kernel when it exits, however it exits (``kill -9`` included). So N processes on one host
  hold slots 0..N-1, and a process that died is replaced by its restart in the same slot: the
  same ``transactional.id``, which fences whatever the dead one left open. (A hung process keeps
  its slot; its replacement takes the next one, and the group generation check of
  ``send_offsets_to_transaction`` (KIP-447) fences the hung one's offsets.)
* :meth:`Instance.release` gives the slot back (the service calls it when it stops).
* The slot also offsets the metrics port (:func:`consumer.health.start_health_server`): the
  processes of one configuration on one host serve ``/metrics`` on ``metrics_port + slot``.

>>> import tempfile
>>> tmp = tempfile.mkdtemp()
>>> first = claim_instance("g", None, host="h", directory=tmp)
>>> second = claim_instance("g", None, host="h", directory=tmp)
>>> first.id, second.id
('h-0', 'h-1')
>>> first.release(); claim_instance("g", None, host="h", directory=tmp).id
'h-0'
>>> claim_instance("g", "pod-7", host="h", directory=tmp).id
'pod-7'
"""

from __future__ import annotations

import fcntl
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: More slots than any host runs processes of one group; a bound, not a plan.
MAX_SLOTS = 1024

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class Instance:
    """This process's instance id, and the lock that keeps its slot (None: configured)."""

    id: str
    lock_fd: int | None = None
    #: The per-host slot (None: the id was configured).
    slot: int | None = None

    def release(self) -> None:
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing the descriptor releases the flock
            self.lock_fd = None


def lock_dir() -> Path:
    return Path(os.environ.get("DRIFTLINE_LOCK_DIR") or tempfile.gettempdir())


def claim_instance(group_id: str, configured: str | None, *, host: str | None = None,
                   directory: str | Path | None = None) -> Instance:
    """This process's instance (module docstring)."""
    if configured:
        return Instance(configured)
    host = host or socket.gethostname()
    directory = Path(directory) if directory is not None else lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    stem = _UNSAFE.sub("_", f"driftline-{group_id}-{host}")
    for slot in range(MAX_SLOTS):
        path = directory / f"{stem}-{slot}.lock"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
        except PermissionError:
            continue  # another user's file we cannot even read: not ours to claim
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        return Instance(f"{host}-{slot}", fd, slot)
    raise RuntimeError(f"no free instance slot among {MAX_SLOTS} in {directory}")


__all__ = ["MAX_SLOTS", "Instance", "claim_instance", "lock_dir"]
