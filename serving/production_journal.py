"""The production log's write-ahead journal and dead-letter file: what keeps an answered prediction's row
when the process dies before its parquet file is written, or when that write keeps failing.

Layout under the log's root (beside the `date=*` folders monitoring reads; neither name matches them):

- `.journal/<worker>.lock`: held (flock) by the worker for its whole life. The kernel drops the lock when
  the process dies, SIGKILL included, so "can I lock it" is an exact liveness test with no pid to reuse
  (a container restart gives its worker the same pid again).
- `.journal/<worker>-<batch>.jsonl`: the rows of one batch still to be written, one JSON line per row,
  appended and fsynced before `append` returns, i.e. before the client gets its answer. The segment is
  deleted once every one of its rows is in a parquet file or in the dead-letter file; a segment left by
  a dead worker is replayed into the parquet file its own flush would have written (same name, so a
  replay after a kill that came between the write and the deletion writes nothing twice).
- `dead-letter.jsonl`: rows whose parquet write still failed after its retries, one JSON line each with
  `error` and `failed_at`, appended durably; `read_dead_letter` gives them back.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np

from release.durable import append_durably, fsync_dir

log = logging.getLogger(__name__)

JOURNAL_DIR = ".journal"
DEAD_LETTER = "dead-letter.jsonl"


def _plain(value: object) -> object:
    """JSON for the values a row holds (numpy arrays and scalars, datetimes); float32 survives the round
    trip exactly (a float32 is exactly a double, and json writes doubles shortest-exact)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_row(row: dict, **extra: object) -> bytes:
    """One JSON line (with `extra` keys, e.g. the dead letter's `error`)."""
    return (json.dumps(row | extra, default=_plain, separators=(",", ":")) + "\n").encode()


def read_lines(path: Path) -> list[dict]:
    """The complete JSON lines of a journal or dead-letter file. A torn last line (a kill inside its
    write) is skipped: its `append` never returned, so no client was answered for it."""
    rows = []
    for number, line in enumerate(Path(path).read_bytes().splitlines(), 1):
        try:
            rows.append(json.loads(line))
        except ValueError:
            log.warning("production log: %s line %d is torn or not JSON; skipped", path, number)
    return rows


def dead_letter(root: Path, rows: Sequence[dict], error: str) -> bool:
    """Append `rows` to `<root>/dead-letter.jsonl` (one write, fsynced); False if even that failed."""
    stamp = datetime.now(UTC).isoformat()
    data = b"".join(encode_row(row, error=error, failed_at=stamp) for row in rows)
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
        append_durably(Path(root) / DEAD_LETTER, data, label=None, after_torn="newline")
    except Exception:
        log.exception(
            "production log: %d rows could not be written to the dead-letter file either", len(rows)
        )
        return False
    return True


def read_dead_letter(root: str | Path) -> list[dict]:
    """Every row kept in the dead-letter file (with `error` and `failed_at`); [] when there is none."""
    path = Path(root) / DEAD_LETTER
    return read_lines(path) if path.is_file() else []


def _try_lock(path: Path) -> int | None:
    """An fd holding an exclusive flock on `path` (created if absent), or None when another process
    holds it (its owner is alive)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


class Journal:
    """One worker's journal: its lock, taken at start, and the segment of the batch being buffered."""

    def __init__(self, root: Path, worker: str) -> None:
        self.folder = Path(root) / JOURNAL_DIR
        self.folder.mkdir(parents=True, exist_ok=True)
        self.worker = worker
        self._lock_fd = _try_lock(self.folder / f"{worker}.lock")
        if self._lock_fd is None:
            raise RuntimeError(f"production log: journal of worker {worker} is locked by another process")
        fsync_dir(self.folder)

    def segment(self, batch: int) -> Path:
        return self.folder / f"{self.worker}-{batch:06d}.jsonl"

    def append(self, batch: int, row: dict) -> None:
        """Make one row durable before its answer goes out (one write + fsync)."""
        append_durably(self.segment(batch), encode_row(row), label=None, after_torn="newline")

    def retire(self, batch: int, worker: str | None = None) -> None:
        """Drop a segment whose rows are all in parquet or in the dead-letter file."""
        (self.folder / f"{worker or self.worker}-{batch:06d}.jsonl").unlink(missing_ok=True)
        fsync_dir(self.folder)

    def orphans(self) -> Iterator[tuple[str, list[tuple[int, list[dict]]]]]:
        """(worker, [(batch, rows)]) for each dead worker's journal (this one's lock held meanwhile,
        so two workers starting together never replay the same segment); the lock file goes after."""
        names = {p.stem for p in self.folder.glob("*.lock")}
        names |= {p.stem.rsplit("-", 1)[0] for p in self.folder.glob("*.jsonl")}
        for worker in sorted(names - {self.worker}):
            lock = self.folder / f"{worker}.lock"
            fd = _try_lock(lock)
            if fd is None:
                continue  # alive: its own process writes its rows
            try:
                segments = sorted(self.folder.glob(f"{worker}-*.jsonl"))
                yield worker, [(int(p.stem.rsplit("-", 1)[1]), read_lines(p)) for p in segments]
                if not any(self.folder.glob(f"{worker}-*.jsonl")):
                    lock.unlink(missing_ok=True)
            finally:
                os.close(fd)

    def close(self) -> None:
        """Release the lock (and its file: nothing is left to replay when close ran to the end)."""
        if self._lock_fd is not None:
            if not any(self.folder.glob(f"{self.worker}-*.jsonl")):
                (self.folder / f"{self.worker}.lock").unlink(missing_ok=True)
            os.close(self._lock_fd)
            self._lock_fd = None
