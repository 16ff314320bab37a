"""The exact cap on uploads in flight, across every worker process of one `bentoml serve`.

BentoML 1.4's own `max_concurrency` answers 429 without `Retry-After` and divides the cap between worker
processes; this one is exact on one machine: a slot is an exclusive `flock` on one of `cap` files in a
folder named after the server's arbiter process (the workers' parent), so workers of one server share it
and two servers never do. The kernel releases a dead worker's locks, so a killed process leaks no slot.
Within a process a set of held slots stands beside the locks (a process's own flock does not exclude it).
"""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path


class InFlightSlots:
    """`cap` slots; `acquire()` gives a slot index or None (all taken), `release(index)` gives it back."""

    def __init__(self, cap: int, folder: Path | None = None) -> None:
        self.cap = cap
        self.folder = Path(folder or Path(tempfile.gettempdir()) / f"echojepa-inflight-{os.getppid()}")
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._fds = [os.open(self.folder / f"slot-{i}", os.O_RDWR | os.O_CREAT, 0o600) for i in range(cap)]
        self._held: set[int] = set()

    def acquire(self) -> int | None:
        for index, fd in enumerate(self._fds):
            if index in self._held:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # another worker holds it
            self._held.add(index)
            return index
        return None

    def release(self, index: int) -> None:
        self._held.discard(index)
        fcntl.flock(self._fds[index], fcntl.LOCK_UN)

    @property
    def held(self) -> int:
        """Slots this process holds now."""
        return len(self._held)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds, self._held = [], set()
