"""The ledger's line format: canonical JSON, what is signed, what is hashed, and the structural chain check.

Pure functions over entries and raw lines. Reading and writing the file is `release.ledger_file`'s; who
may sign what, and what each event requires, is `release.ledger_rules`'s; the format is described in
`release.ledger`.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from release.events import CANDIDATE_EVENTS, Event

EVENTS = tuple(Event)
GENESIS = "0" * 64
RESERVED = ("seq", "time", "event", "prev", "hash", "sig", "signer", "role", "signers")
REQUIRED = ("candidate_id", "model_version")  # on every line about a candidate
STRUCTURE = ("seq", "time", "event", "prev", "hash", "sig", "signer", "role", "signers")


class LedgerError(ValueError):
    """A one-line reason why the ledger cannot be read or appended to."""


@dataclass(frozen=True)
class VerifyResult:
    """`ok`, else the first bad `line` (1-based) and a one-line `reason`; `notes` are what is fine but worth
    knowing (e.g. entries the witness has not seen yet)."""

    ok: bool
    line: int | None = None
    reason: str = ""
    notes: tuple[str, ...] = field(default=())

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "ledger OK" if self.ok else f"ledger line {self.line}: {self.reason}"


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed, signed and written: sorted keys, no whitespace, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def signed_bytes(entry: dict) -> bytes:
    """What the signer signs: the canonical JSON of the entry without `hash` and `sig`."""
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return canonical_json(body).encode("utf-8")


def entry_hash(entry: dict) -> str:
    """sha256 of the canonical JSON of the entry without `hash` (so the signature is chained too)."""
    body = {k: v for k, v in entry.items() if k != "hash"}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def json_safe(value: Any) -> Any:
    """JSON-safe copy: numpy scalars/arrays -> Python, tuples -> lists, Paths -> str, NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [json_safe(v) for v in items]
    if isinstance(value, bool) or value is None or isinstance(value, str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return json_safe(value.tolist())
    if isinstance(value, datetime):
        return value.isoformat()
    raise LedgerError(f"ledger field value of type {type(value).__name__} is not JSON-serialisable")


def utc_now() -> str:
    """An entry's `time`: UTC, ISO 8601 with microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def parse_line(raw: bytes) -> dict | str:
    """One raw line as an entry, or the reason it is not one."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return "not valid JSON (edited or torn write)"
    return entry if isinstance(entry, dict) else "not a JSON object"


def check_structure(entry: dict, number: int, prev: str) -> str | None:
    """Why line `number` is not a well-formed link after `prev` (None when it is)."""
    if entry.get("event") not in EVENTS:
        return f"unknown event {entry.get('event')!r}"
    wanted = [*STRUCTURE, *(REQUIRED if entry["event"] in CANDIDATE_EVENTS else ())]
    missing = [k for k in wanted if k not in entry]
    if missing:
        unsigned = "sig" in missing
        return f"missing field(s) {', '.join(missing)}" + (": the line is not signed" if unsigned else "")
    try:
        recomputed = entry_hash(entry)
    except ValueError:
        return "not canonical JSON (NaN or infinity)"
    if entry["hash"] != recomputed:
        return "hash mismatch: the entry was edited"
    if entry["prev"] != prev:
        if number == 1:
            return "prev is not the genesis hash: lines were deleted from the start or reordered"
        return f"prev does not match the hash of line {number - 1}: a line was deleted, inserted or reordered"
    if entry["seq"] != number:
        return f"seq {entry['seq']} != line number {number}"
    return None


def verify_chain(lines: list[bytes]) -> tuple[list[dict], VerifyResult]:
    """The entries of raw ledger `lines` and the first structural fault (hash, link, seq, fields)."""
    prev, entries = GENESIS, []
    for number, raw in enumerate(lines, start=1):
        entry = parse_line(raw)
        if isinstance(entry, str):
            return entries, VerifyResult(False, number, entry)
        fault = check_structure(entry, number, prev)
        if fault:
            return entries, VerifyResult(False, number, fault)
        entries.append(entry)
        prev = entry["hash"]
    return entries, VerifyResult(True)
