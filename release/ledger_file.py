"""The ledger file on disk: the sidecar `flock`, raw reads, verification, and signed, witnessed appends.

`LedgerFile` does all IO; `release.ledger.Ledger` adds the views of candidates and production. Writers
hold an exclusive lock on `<ledger>.lock`, verify everything (chain, signatures, rules, witnesses, model
store heads), stage entries that are signed by the writer's key and replayed strictly before anything is
written (a line that would not verify is never written), then append them with one write + fsync and
publish the new heads to every witness (`release.durable` lists the write points). Readers take a shared
lock. Next to the ledger: `signers/<sha256>` (allowed-signers versions) and `candidates/<id>/` (frozen
candidate files).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from release.decision_docs import DecisionError
from release.durable import append_durably
from release.events import CANDIDATE_EVENTS, LINE_ROLES, Event
from release.ledger_chain import (
    GENESIS,
    REQUIRED,
    RESERVED,
    LedgerError,
    VerifyResult,
    canonical_json,
    entry_hash,
    json_safe,
    signed_bytes,
    utc_now,
    verify_chain,
)
from release.ledger_rules import Replay, RuleError, signature_jobs
from release.signing import AllowedSigners, SignatureError, Signer, SignersStore, Verified, prefetch
from release.witness import Witness, WitnessError, compare, publish

try:  # POSIX; elsewhere appends are still atomic per write but not serialised between processes
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

DEFAULT_PATH = Path("registry/ledger.jsonl")
StoreHeads = Callable[[], Mapping[str, str]]  # ledger head -> the model-store tag that recorded it
_REFUSED = (RuleError, DecisionError, SignatureError)


class LedgerFile:
    """Hash-chained, SSH-signed JSON-lines file at `path`, its witnesses and its model-store heads."""

    def __init__(
        self,
        path: Path | str = DEFAULT_PATH,
        *,
        witnesses: Sequence[Witness] = (),
        store_heads: StoreHeads | None = None,
    ) -> None:
        self.path = Path(path)
        self.witnesses = tuple(witnesses)
        self.store_heads = store_heads
        self.signers = SignersStore(self.path.parent / "signers")
        self.candidates_dir = self.path.parent / "candidates"
        self._lock_depth = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r}, witnesses={[w.name for w in self.witnesses]})"

    # ------------------------------------------------------------------ locking and raw IO
    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        """flock on the sidecar lock file; re-entrant within this object."""
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
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def raw_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:
            return b""

    def _raw_lines(self) -> list[bytes]:
        """The file's lines (without newlines); a torn final line without its newline is kept."""
        lines = self.raw_bytes().split(b"\n")
        if lines[-1] == b"":
            lines.pop()
        return lines

    # ------------------------------------------------------------------ reading
    def entries(self) -> list[dict]:
        """All entries in file order (parsed, not verified). LedgerError on a line that is not JSON."""
        with self._locked(exclusive=False):
            lines = self._raw_lines()
        out = []
        for number, raw in enumerate(lines, start=1):
            try:
                entry = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise LedgerError(
                    f"{self.path} line {number} is not valid JSON ({type(exc).__name__})"
                ) from None
            if not isinstance(entry, dict):
                raise LedgerError(f"{self.path} line {number} is not a JSON object")
            out.append(entry)
        return out

    def head(self) -> str:
        """The hash of the last line (64 zeros for an empty or missing ledger)."""
        entries = self.entries()
        return str(entries[-1].get("hash", "")) if entries else GENESIS

    def verify(self, expected_heads: Iterable[str] = ()) -> VerifyResult:
        """Check everything and name the first bad line: the chain, each line's signature and role against
        the signers in force, the release rules, every witness, and the heads the model store recorded
        (`expected_heads` adds more)."""
        with self._locked(exclusive=False):
            return self.check(self._raw_lines(), expected_heads)[0]

    def verified_replay(self) -> Replay:
        """The strictly replayed state of a ledger that verifies; LedgerError naming the bad line if not."""
        with self._locked(exclusive=False):
            result, replay, _ = self.check(self._raw_lines())
        if not result.ok:
            raise LedgerError(f"{self.path} does not verify ({result}); run `echojepa ledger verify`")
        return replay

    def check(
        self, lines: list[bytes], expected_heads: Iterable[str] = (), *, with_store: bool = True
    ) -> tuple[VerifyResult, Replay, dict]:
        """(result, strict replay, {witness name: its latest seq}) for raw `lines`; `with_store=False`
        leaves out the model store's heads (`recover` examines those itself)."""
        entries, result = verify_chain(lines)
        faults = [] if result.ok else [result]
        replay = Replay(self.signers, strict=True)
        prefetch(signature_jobs(entries, self.signers))
        for number, entry in enumerate(entries, start=1):
            try:
                replay.apply(entry)
            except _REFUSED as exc:
                faults.append(VerifyResult(False, number, str(exc)))
                break
        hashes = [e["hash"] for e in entries]
        notes, seen = [], {}
        for witness in self.witnesses if hashes else ():  # the earliest disagreement wins, whoever finds it
            try:
                found = compare(witness, hashes[0], hashes)
            except WitnessError as exc:
                faults.append(VerifyResult(False, len(hashes), str(exc)))
                continue
            if found.line is not None:
                faults.append(VerifyResult(False, found.line, found.reason))
            seen[witness.name] = found.latest_seq
            if found.latest_seq < len(hashes):
                notes.append(f"{witness.name} has not seen lines {found.latest_seq + 1}-{len(hashes)} yet")
        if faults:
            return min(faults, key=lambda f: f.line or 0), replay, {}
        stored = self.store_heads() if self.store_heads and with_store else {}
        heads = {**{h: "(given)" for h in expected_heads}, **stored}
        chained = set(hashes)
        for head, tag in sorted(heads.items()):
            if head and head not in chained:
                reason = (
                    f"ledger truncated after line {len(hashes)}: model {tag} in the model store records "
                    f"head {head[:12]}…, which is not in the chain (or its packaging crashed before the "
                    "ledger write: `ledger recover`)"
                )
                return VerifyResult(False, len(hashes), reason), replay, {}
        return VerifyResult(True, notes=tuple(notes)), replay, seen

    # ------------------------------------------------------------------ writing
    @contextlib.contextmanager
    def transaction(self, signer: Signer) -> Iterator[LedgerTransaction]:
        """Exclusive lock + a ledger that verifies; entries staged with `tx.stage(...)` are written
        together on a clean exit and dropped if the block raises."""
        with self._locked(exclusive=True):
            result, replay, seen = self.check(self._raw_lines())
            if not result.ok:
                raise LedgerError(f"refusing to append: {result}")
            tx = LedgerTransaction(self, signer, self.entries(), replay, seen)
            yield tx
            tx.commit()

    def append(self, signer: Signer, event: str, /, **fields: Any) -> dict:
        """Append one signed entry; returns it as written."""
        with self.transaction(signer) as tx:
            return tx.stage(event, **fields)


class LedgerTransaction:
    """Entries staged under the ledger's exclusive lock, signed by `signer`, replayed before writing."""

    def __init__(self, ledger: LedgerFile, signer: Signer, entries: list[dict], replay: Replay, seen: dict):
        self.ledger, self.signer, self.replay, self.seen = ledger, signer, replay, seen
        self.entries = entries
        self.staged: list[dict] = []

    def version(self, event: Event, fields: Mapping[str, Any]) -> AllowedSigners:
        """The signers a new line is verified against (an empty ledger: the version it starts with)."""
        if self.replay.pinned is not None:
            return self.replay.pinned
        if event != Event.SIGNERS_CHANGED:
            raise LedgerError(
                f"{self.ledger.path} is empty: start it with `signers-changed` (a release manager)"
            )
        return self.ledger.signers.get(str(fields.get("new_signers")))

    def identity(self, event: Event, version: AllowedSigners) -> Verified:
        """The signer's principal in the first role allowed to write `event`."""
        for role in LINE_ROLES[event]:
            with contextlib.suppress(SignatureError):
                return self.signer.identify(version, role)
        roles = " or ".join(LINE_ROLES[event])
        raise DecisionError(f"key {self.signer.key} may not write a {event} line (needs {roles})")

    def stage(self, event: str, /, **fields: Any) -> dict:
        """Build, sign and replay the next entry after the ledger and any staged ones; returns it."""
        try:
            kind = Event(event)
        except ValueError:
            raise LedgerError(f"unknown ledger event {event!r}; expected one of {', '.join(Event)}") from None
        clash = [k for k in fields if k in RESERVED]
        if clash:
            raise LedgerError(f"ledger fields {', '.join(clash)} are reserved")
        missing = [k for k in REQUIRED if k not in fields and kind in CANDIDATE_EVENTS]
        if missing:
            raise LedgerError(f"ledger entry {event!r} needs {', '.join(missing)}")
        version = self.version(kind, fields)
        who = self.identity(kind, version)
        chain = self.entries + self.staged
        entry = {
            "seq": len(chain) + 1,
            "time": utc_now(),
            "event": str(kind),
            **json_safe(fields),
            "signers": version.sha256,
            "signer": who.principal,
            "role": str(who.role),
            "prev": chain[-1]["hash"] if chain else GENESIS,
        }
        entry["sig"] = self.signer.sign(signed_bytes(entry), who.role)
        entry["hash"] = entry_hash(entry)
        try:
            self.replay.apply(entry)  # the rules verify() will apply, before anything is written
        except _REFUSED as exc:
            raise DecisionError(str(exc)) from None
        self.staged.append(entry)
        return dict(entry)

    def head(self) -> str:
        """The head the ledger will have once the staged entries are written."""
        chain = self.entries + self.staged
        return chain[-1]["hash"] if chain else GENESIS

    def lines(self) -> list[str]:
        """The staged entries as the lines that will be written."""
        return [canonical_json(e) for e in self.staged]

    def commit(self) -> None:
        if not self.staged:
            return
        append_durably(
            self.ledger.path, "".join(f"{ln}\n" for ln in self.lines()).encode("utf-8"), label="ledger"
        )
        self.entries, self.staged = self.entries + self.staged, []
        publish(self.ledger.witnesses, self.entries, self.seen)
        self.seen = {w.name: len(self.entries) for w in self.ledger.witnesses}
