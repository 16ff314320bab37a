"""The ledger file on disk: the sidecar `flock`, raw reads, and verified, atomic appends.

`LedgerFile` holds the path and the HMAC key (read once from `ECHOJEPA_LEDGER_KEY`, never written
anywhere) and does all IO; `release.ledger.Ledger` adds the views of candidates and production on top.
Writers hold an exclusive lock on `<ledger>.lock`, verify the chain, and append with one `write` on an
`O_APPEND` descriptor followed by `fsync`; readers take a shared lock.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from release.ledger_chain import (
    EVENTS,
    GENESIS,
    KEY_ENV,
    REQUIRED,
    RESERVED,
    LedgerError,
    VerifyResult,
    canonical_json,
    entry_hash,
    json_safe,
    sign_digest,
    utc_now,
    verify_chain,
)

try:  # POSIX; elsewhere appends are still atomic per write but not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_PATH = Path("registry/ledger.jsonl")


class LedgerFile:
    """Hash-chained, optionally HMAC-signed JSON-lines file at `path`: locking, reading, appending."""

    def __init__(self, path: Path | str = DEFAULT_PATH) -> None:
        self.path = Path(path)
        key = os.environ.get(KEY_ENV)
        self._key: bytes | None = key.encode("utf-8") if key else None
        self._lock_depth = 0
        self._lock_fd: int | None = None

    def __repr__(self) -> str:  # never shows the key
        return f"{type(self).__name__}({str(self.path)!r}, signed={self._key is not None})"

    # ------------------------------------------------------------------ locking and raw IO
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """flock on the sidecar lock file; re-entrant within this object (an inner call reuses the outer
        lock)."""
        if self._lock_depth > 0 or fcntl is None:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        if exclusive:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif not self.path.parent.exists():
            yield  # nothing to read, nothing to lock
            return
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            self._lock_fd, self._lock_depth = fd, 1
            try:
                yield
            finally:
                self._lock_depth, self._lock_fd = 0, None
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _raw_lines(self) -> list[bytes]:
        """The file's lines (without newlines); a torn final line without its newline is kept."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        if not data:
            return []
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return lines

    def _sign(self, digest: str) -> str:
        assert self._key is not None
        return sign_digest(self._key, digest)

    # ------------------------------------------------------------------ reading
    def entries(self) -> list[dict]:
        """All entries in file order (parsed; no verification). Raises LedgerError on a line that is not
        JSON."""
        with self._locked(exclusive=False):
            lines = self._raw_lines()
        out = []
        for number, raw in enumerate(lines, start=1):
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise LedgerError(
                    f"{self.path} line {number} is not valid JSON ({exc.__class__.__name__})"
                ) from None
            if not isinstance(entry, dict):
                raise LedgerError(f"{self.path} line {number} is not a JSON object")
            out.append(entry)
        return out

    def head(self) -> str:
        """The hash of the last line (genesis, 64 zeros, for an empty or missing ledger)."""
        entries = self.entries()
        return str(entries[-1].get("hash", "")) if entries else GENESIS

    def verify(self, expected_heads: Iterable[str] = ()) -> VerifyResult:
        """Check the chain line by line; the first bad line (1-based) and why, or ok.

        `expected_heads`: hashes that must still be in the chain (the heads stored at each promotion in the
        model store); one that is missing means the tail was cut off (truncation).
        """
        with self._locked(exclusive=False):
            lines = self._raw_lines()
        return verify_chain(lines, self._key, expected_heads)

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def transaction(self) -> Iterator[LedgerTransaction]:
        """Exclusive lock + verified chain; entries staged with `tx.stage(...)` are written together on a
        clean exit
        (one write + fsync) and dropped if the block raises. `tx.entries` is the ledger as read under the
        lock."""
        with self._locked(exclusive=True):
            result = self.verify()
            if not result.ok:
                raise LedgerError(f"refusing to append: {result}")
            tx = LedgerTransaction(self, self.entries())
            yield tx
            tx._commit()

    def append(self, event: str, **fields: Any) -> dict:
        """Append one entry (needs `candidate_id` and `model_version` among `fields`); returns it as
        written."""
        with self.transaction() as tx:
            return tx.stage(event, **fields)

    def _write(self, lines: list[str]) -> None:
        data = "".join(line + "\n" for line in lines).encode("utf-8")
        created = not self.path.exists()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            size = os.fstat(fd).st_size
            if size:  # never glue onto a torn final line (verify() would already have refused)
                with open(self.path, "rb") as fh:
                    fh.seek(size - 1)
                    if fh.read(1) != b"\n":
                        raise LedgerError(
                            f"{self.path} does not end with a newline (torn write); not appending"
                        )
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        if created:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)


class LedgerTransaction:
    """Entries staged under the ledger's exclusive lock; written by `Ledger.transaction` on a clean exit."""

    def __init__(self, ledger: LedgerFile, entries: list[dict]) -> None:
        self.ledger = ledger
        self.entries = entries
        self.staged: list[dict] = []

    def stage(self, event: str, **fields: Any) -> dict:
        """Build the next entry (seq, time, prev, hash, sig) after the ledger and any staged entries."""
        if event not in EVENTS:
            raise LedgerError(f"unknown ledger event {event!r}; expected one of {', '.join(EVENTS)}")
        clash = [k for k in fields if k in RESERVED]
        if clash:
            raise LedgerError(f"ledger fields {', '.join(clash)} are reserved")
        missing = [k for k in REQUIRED if k not in fields]
        if missing:
            raise LedgerError(f"ledger entry {event!r} needs {', '.join(missing)}")
        chain = self.entries + self.staged
        entry = {
            "seq": len(chain) + 1,
            "time": utc_now(),
            "event": event,
            **json_safe(fields),
            "prev": chain[-1]["hash"] if chain else GENESIS,
        }
        entry["hash"] = entry_hash(entry)
        if self.ledger._key is not None:
            entry["sig"] = self.ledger._sign(entry["hash"])
        self.staged.append(entry)
        return dict(entry)

    def head(self) -> str:
        """The head the ledger will have once the staged entries are written."""
        chain = self.entries + self.staged
        return chain[-1]["hash"] if chain else GENESIS

    def _commit(self) -> None:
        if self.staged:
            self.ledger._write([canonical_json(e) for e in self.staged])
            self.entries = self.entries + self.staged
            self.staged = []
