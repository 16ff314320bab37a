"""The tamper-evident release ledger `registry/ledger.jsonl`: the source of truth for production.

Format: one JSON object per line (UTF-8, canonical JSON: sorted keys, no spaces), appended only:

    {"seq": 2, "time": "2025-01-01T00:00:00.000000+00:00", "event": "candidate",
     "candidate_id": "cand-1a2b3c4d", "model_version": "...", ...payload...,
     "signers": "<sha256 of the allowed-signers version in force>", "signer": "alice",
     "role": "echojepa-initiator", "prev": "<hash of line 1>", "sig": "<SSH signature>", "hash": "<sha256>"}

- `seq` counts lines from 1; `prev` is the `hash` of the previous line (line 1: 64 zeros).
- `sig` = the signer's SSH signature (`release.signing`, namespace = `role`) over the canonical JSON of
  the entry without `hash` and `sig`; `hash` = sha256 of the canonical JSON without `hash`, so the chain
  fixes the signatures too. `signer` is checked against the signature (`ssh-keygen -Y verify -I`).
- Line 1 is `signers-changed`: the allowed signers the ledger starts with (signed by a release manager
  listed in them). Every later line names the version in force; it changes only through another
  `signers-changed` line signed by a release manager of the previous version.
- Decision lines (`approved`, `rejected`, `waived`, `rollback`) carry the reviewer's signed decision
  document (`release.decision_docs`); the reviewer is never the registrant (principal or key).

`verify()` names the first bad line (1-based, the physical line in the file):
- an edited line fails its own hash (or, rehashed, the next line's `prev`; re-signed by another key, the
  rules: a decision without a reviewer's document, a registration by someone else);
- a deleted line k makes the line now at k fail its `prev` link; two swapped lines name the first;
- a chain re-hashed without signatures fails at line 1 (`sig` missing);
- a cut tail (a prefix of a chain is a valid chain) is caught by the witnesses (`release.witness`): the
  first deleted line is named; and by the heads stored at each promotion in the model store.

Modules: `release.ledger_chain` (line format, hashing, structure), `release.ledger_rules` (signatures,
roles and release rules, replayed line by line), `release.ledger_file` (locking, reading, verified and
witnessed appends) and this one (`Ledger`: candidates and production; `open_ledger` from the config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from release.events import CandidateState, Event
from release.ledger_chain import (
    EVENTS,
    GENESIS,
    REQUIRED,
    RESERVED,
    LedgerError,
    VerifyResult,
    canonical_json,
    entry_hash,
    sha256_file,
    verify_chain,
)
from release.ledger_file import DEFAULT_PATH, LedgerFile, LedgerTransaction
from release.ledger_rules import CandidateRecord, Replay

if TYPE_CHECKING:
    from release.config import ReleaseConfig

__all__ = [
    "DEFAULT_PATH",
    "EVENTS",
    "GENESIS",
    "REQUIRED",
    "RESERVED",
    "CandidateSummary",
    "Ledger",
    "LedgerError",
    "LedgerTransaction",
    "VerifyResult",
    "canonical_json",
    "entry_hash",
    "open_ledger",
    "sha256_file",
    "verify_chain",
]


@dataclass(frozen=True)
class CandidateSummary:
    """One candidate as `release list|show` and the flows see it. `initiator` is the principal that signed
    the registration; `decision` the approved / rejected / expired line (None while pending)."""

    candidate_id: str
    model_version: str
    state: CandidateState
    initiator: str
    registered: str
    registration_hash: str
    gates: list[dict]
    failed_gates: tuple[str, ...]
    waived_gates: dict[str, dict]
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_version: str | None
    git_commit: str | None
    manifest: dict[str, str]
    data_hashes: dict[str, str]
    decision: dict | None
    bento_tag: str | None
    entries: tuple[dict, ...] = field(repr=False)

    @property
    def weights_sha256(self) -> str | None:
        return self.manifest.get("encoder.pt")

    @property
    def reviewer(self) -> str:
        return str((self.decision or {}).get("reviewer") or "")

    @classmethod
    def from_record(cls, record: CandidateRecord) -> CandidateSummary:
        reg = record.registration
        tags = [e["bento_tag"] for e in record.entries if e.get("bento_tag") and e["event"] != Event.ROLLBACK]
        rolled_to = [e["bento_tag"] for e in record.entries if e["event"] == Event.ROLLBACK]
        return cls(
            candidate_id=reg["candidate_id"],
            model_version=str(reg.get("model_version")),
            state=record.state,
            initiator=str(reg.get("signer") or ""),
            registered=str(reg.get("time")),
            registration_hash=reg["hash"],
            gates=list(reg.get("gates", [])),
            failed_gates=tuple(record.open_failures),
            waived_gates=dict(record.waived),
            metrics=reg.get("metrics", {}),
            params=reg.get("params", {}),
            data_version=reg.get("data_version"),
            git_commit=reg.get("git_commit"),
            manifest=dict(reg.get("manifest") or {}),
            data_hashes=dict(reg.get("data_hashes") or {}),
            decision=record.decision,
            bento_tag=(tags or rolled_to or [None])[-1],
            entries=tuple(record.entries),
        )


class Ledger(LedgerFile):
    """The release ledger at `path` (default `registry/ledger.jsonl`): IO, verification and appends from
    `LedgerFile`; the views of candidates and production here (read without verifying: for listings;
    anything that acts on a state uses `verified_replay()`)."""

    def replay(self) -> Replay:
        """The ledger's state, replayed without checking signatures or rules."""
        replay = Replay(strict=False)
        for entry in self.entries():
            if entry.get("event") in EVENTS:
                replay.apply(entry)
        return replay

    def production_entry(self) -> dict | None:
        """The last `promoted` or `rollback` line (its candidate_id, model_version, bento_tag are
        production)."""
        return self.replay().production

    def production(self) -> str | None:
        """The model version that is production now, or None."""
        entry = self.production_entry()
        return None if entry is None else entry.get("model_version")

    def history(self) -> list[str]:
        """Production model versions in order, one per `promoted` / `rollback` line."""
        return [
            e.get("model_version")
            for e in self.entries()
            if e.get("event") in (Event.PROMOTED, Event.ROLLBACK)
        ]

    def previous_production(self) -> dict | None:
        """The line a rollback would return to (below the current one on the promotion stack), or None."""
        stack = self.replay().stack
        return stack[-2] if len(stack) >= 2 else None

    def candidate(self, candidate_id: str) -> CandidateSummary:
        """One candidate's summary; LedgerError if unknown."""
        record = self.replay().candidates.get(candidate_id)
        if record is None:
            raise LedgerError(f"unknown candidate {candidate_id!r}")
        return CandidateSummary.from_record(record)

    def candidates(self) -> list[CandidateSummary]:
        """Every registered candidate in registration order."""
        return [CandidateSummary.from_record(r) for r in self.replay().candidates.values()]


def open_ledger(settings: ReleaseConfig) -> Ledger:
    """The ledger of params.yaml's `release` section, with its witnesses (the file outside the repository,
    and the S3 bucket when `witness_s3_url` is set) and the model store's promotion heads."""
    from release.witness import FileWitness, S3Witness, outside_repository

    witnesses: list = [FileWitness(outside_repository(settings.witness_dir, settings.ledger))]
    if settings.witness_s3_url:
        witnesses.append(S3Witness(settings.witness_s3_url, retention_days=settings.witness_retention_days))

    def store_heads() -> dict[str, str]:
        from release.package import store_heads as heads_in_store

        return heads_in_store(settings.model_name)

    return Ledger(settings.ledger, witnesses=witnesses, store_heads=store_heads)
