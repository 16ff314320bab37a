"""Every write of the release path goes through one of these functions, inside a named write point, so
the order of writes can be stated, counted and crashed on purpose in tests.

Write points of the release path, in order (label: what is written; what a kill right after it leaves):

1. `candidate-file` (once per candidate file): a copy of the file into `registry/candidates/.<id>.tmp/`,
   hashed while copied and fsynced. Left after a kill: a temp folder no ledger line names (`recover`
   removes it).
2. `candidate-dir`: the temp folder renamed to `registry/candidates/<id>`, the parent folder fsynced.
   Left: a frozen candidate no ledger line names (`recover` removes it).
3. `ledger`: the `candidate` line (+ `gates_failed`), one O_APPEND write + fsync. Left: a ledger one
   head ahead of its witness; it verifies (noting the lag) and the next append or `recover` publishes it.
4. `witness`: the new head(s) published to each configured witness (file: one append + fsync; S3: one
   object-locked object per sequence number).
5. `ledger`: the decision line (`approved`, `rejected`, `waived` or `expired`).
6. `witness`: its head.
7. `model-store`: `bentoml.models.create`: the frozen files copied and re-hashed into the store, the
   model's metadata holding the two staged ledger lines and their head. Left: a model whose head is not in
   the chain; verify fails naming it and `recover` appends the staged (complete, signed) lines.
8. `ledger`: `packaged` + `promoted`, one write.
9. `witness`: their heads.

A rollback is points 5 and 6 with a `rollback` line; a `signers-changed` entry writes `signers-version`
(`registry/signers/<sha256>`, write-once) before its `ledger` and `witness` points. A torn write can only
hit the last ledger line (each append is one write); `recover` keeps it if it is complete and signed,
else cuts it off and records what it cut.

Outside the release path the same primitives keep other files whole on a kill: `replace_durably` (a
rewritten file), `swap_in_dir` (validate's output folder), `fsync_file` / `fsync_dir` (the production
log's parquet files), `append_durably` (its journal and dead-letter file).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

FaultHook = Callable[[str, str], None]  # (label, "before" | "after")
_hook: FaultHook | None = None
CHUNK = 1 << 20


class TornLedgerError(ValueError):
    """The file to append to does not end with a newline: its last write was torn."""


def set_fault_hook(hook: FaultHook | None) -> FaultHook | None:
    """Install `hook` (tests: kill the process at write N); returns the previous one."""
    global _hook
    previous, _hook = _hook, hook
    return previous


@contextlib.contextmanager
def write_point(label: str) -> Iterator[None]:
    """Mark one write of the release path: the fault hook runs right before and right after it."""
    if _hook is not None:
        _hook(label, "before")
    yield
    if _hook is not None:
        _hook(label, "after")


def fsync_path(path: Path) -> None:
    """fsync a file another library wrote (pyarrow's parquet writer) or a folder (POSIX: a rename or a new
    file in it is the folder's own write)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


fsync_dir = fsync_file = fsync_path  # the names call sites read best with


def append_durably(path: Path, data: bytes, *, label: str | None, after_torn: str = "refuse") -> None:
    """Append `data` with one write on an O_APPEND descriptor, then fsync (a new file's folder too).

    `label`: the write point (None: the caller's own write point covers it). `after_torn`: what to do when
    the file does not end with a newline: "refuse" (the ledger: never glue a line onto a torn one) or
    "newline" (a witness file: end the torn fragment first, so it stays a line of its own).

    Raises:
        TornLedgerError: the file does not end with a newline and `after_torn` is "refuse".
    """
    path = Path(path)
    created = not path.exists()
    with write_point(label) if label else contextlib.nullcontext():
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                if after_torn == "refuse":
                    raise TornLedgerError(f"{path} does not end with a newline (torn write); not appending")
                data = b"\n" + data
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            fsync_dir(path.parent)


def write_once(path: Path, data: bytes, *, label: str) -> None:
    """Content-addressed file: written (temp + fsync + rename) only when absent; never overwritten."""
    path = Path(path)
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with write_point(label):
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o444)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)


def replace_durably(path: Path, data: bytes, *, label: str | None = None) -> None:
    """Replace `path` with `data` so a reader (or a kill at any instant) sees the old file or the new one
    whole, never a cut one: a temporary file in the same folder, fsynced, renamed over `path`, and the
    folder fsynced (manifests, FileList.csv / quarantine.csv, are rewritten this way)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with write_point(label) if label else contextlib.nullcontext():
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, path)
        fsync_dir(path.parent)


def swap_in_dir(staged: Path, target: Path, *, label: str | None = None) -> None:
    """Make the folder `staged` (written and fsynced by the caller) be `target` in one step, so a reader
    or a kill sees all of the old folder's files or all of the new one's, never a mix (validate's
    FileList.csv + quarantine.csv must add up to the rows in). Linux swaps the two in one rename
    (renameat2 RENAME_EXCHANGE); where the file system cannot, two renames leave a moment with no
    `target`. The old folder is then removed."""
    staged, target = Path(staged), Path(target)
    with write_point(label) if label else contextlib.nullcontext():
        if not target.exists():
            os.rename(staged, target)
            fsync_dir(target.parent)
            return
        old = staged
        if not _exchange(staged, target):
            old = staged.with_name(staged.name + ".old")
            os.rename(target, old)
            os.rename(staged, target)
        fsync_dir(target.parent)
    shutil.rmtree(old)


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (renameat2 RENAME_EXCHANGE); False where the kernel, libc or file system
    lacks it."""
    import ctypes
    import errno

    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def copy_durably(src: Path, dst: Path, *, label: str) -> str:
    """Copy `src` to a new file `dst`, fsynced; returns the sha256 of the bytes written (read once)."""
    digest = hashlib.sha256()
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    with write_point(label), open(src, "rb") as source:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            while block := source.read(CHUNK):
                digest.update(block)
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
    return digest.hexdigest()


def rename_durably(src: Path, dst: Path, *, label: str) -> None:
    """Rename `src` to `dst` (same file system) and fsync the parent folder."""
    with write_point(label):
        os.rename(src, dst)
        fsync_dir(Path(dst).parent)


def truncate_durably(path: Path, size: int, *, label: str) -> None:
    """Cut `path` to `size` bytes and fsync (recover: a torn last line)."""
    with write_point(label):
        fd = os.open(path, os.O_RDWR)
        try:
            os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
