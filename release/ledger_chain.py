"""The ledger's line format: canonical JSON, the hash chain, HMAC signatures and chain verification.

Pure functions over entries and raw lines; reading and writing the file is `release.ledger_file`'s, the
views of candidates and production are `release.ledger.Ledger`'s. The format itself is described in
`release.ledger`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS = ("candidate", "gates_failed", "approved", "rejected", "expired", "packaged", "promoted", "rollback")
GENESIS = "0" * 64
KEY_ENV = "ECHOJEPA_LEDGER_KEY"
RESERVED = ("seq", "time", "event", "prev", "hash", "sig")
REQUIRED = ("candidate_id", "model_version")


class LedgerError(ValueError):
    """A one-line reason why the ledger cannot be read or appended to."""


@dataclass(frozen=True)
class VerifyResult:
    """`ok`, else the first bad `line` (1-based) and a one-line `reason`."""

    ok: bool
    line: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "ledger OK" if self.ok else f"ledger line {self.line}: {self.reason}"


def canonical_json(obj: Any) -> str:
    """The one serialisation that is hashed and written: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(entry: dict) -> str:
    """sha256 of the canonical JSON of `entry` without `hash` and `sig`."""
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def sha256_file(path: Path | str, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes (e.g. the `weights_sha256` of encoder.pt)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sign_digest(key: bytes, digest: str) -> str:
    """HMAC-SHA256(key, digest): an entry's `sig`."""
    return hmac.new(key, digest.encode("ascii"), hashlib.sha256).hexdigest()


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


def verify_chain(lines: list[bytes], key: bytes | None, expected_heads: Iterable[str] = ()) -> VerifyResult:
    """Check raw ledger `lines` (without newlines) one by one; the first bad line (1-based) and why, or ok.

    `key`: the HMAC key (None: the ledger must be unsigned). `expected_heads`: hashes that must still be in
    the chain (the heads stored at each promotion in the model store); one that is missing means the tail
    was cut off (truncation).
    """
    prev = GENESIS
    hashes: set[str] = set()
    for number, raw in enumerate(lines, start=1):
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return VerifyResult(False, number, "not valid JSON (edited or torn write)")
        if not isinstance(entry, dict):
            return VerifyResult(False, number, "not a JSON object")
        missing = [k for k in ("seq", "time", "event", "prev", "hash", *REQUIRED) if k not in entry]
        if missing:
            return VerifyResult(False, number, f"missing field(s) {', '.join(missing)}")
        try:
            recomputed = entry_hash(entry)
        except ValueError:
            return VerifyResult(False, number, "not canonical JSON (NaN or infinity)")
        if entry["hash"] != recomputed:
            return VerifyResult(False, number, "hash mismatch: the entry was edited")
        if entry["prev"] != prev:
            return VerifyResult(
                False,
                number,
                f"prev does not match the hash of line {number - 1}: a line was deleted, "
                "inserted or reordered"
                if number > 1
                else "prev is not the genesis hash: lines were deleted from the start or reordered",
            )
        if entry["seq"] != number:
            return VerifyResult(False, number, f"seq {entry['seq']} != line number {number}")
        if entry["event"] not in EVENTS:
            return VerifyResult(False, number, f"unknown event {entry['event']!r}")
        sig = entry.get("sig")
        if key is None:
            if sig is not None:
                return VerifyResult(
                    False,
                    number,
                    f"signature cannot be checked: the entry is signed but {KEY_ENV} is not set",
                )
        elif sig is None:
            return VerifyResult(
                False, number, f"signature missing: {KEY_ENV} is set but the entry is unsigned"
            )
        elif not hmac.compare_digest(str(sig), sign_digest(key, recomputed)):
            return VerifyResult(False, number, "signature mismatch: wrong key or a forged entry")
        hashes.add(recomputed)
        prev = recomputed
    for expected in expected_heads:
        if expected and expected not in hashes:
            return VerifyResult(
                False,
                len(lines),
                f"ledger truncated after line {len(lines)}: promotion head {expected[:12]}… "
                f"recorded in the "
                "model store is not in the chain",
            )
    return VerifyResult(True, None, "")
