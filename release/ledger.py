"""The tamper-evident release ledger `registry/ledger.jsonl`: the source of truth for production.

Format: one JSON object per line (UTF-8, canonical JSON: sorted keys, no spaces), appended only:

    {"seq": 1, "time": "2025-01-01T00:00:00.000000+00:00", "event": "candidate",
     "candidate_id": "cand-1a2b3c4d", "model_version": "...", ...payload...,
     "prev": "000...0", "hash": "<sha256>", "sig": "<hmac>"}

- `seq` counts lines from 1; `prev` is the `hash` of the previous line (genesis: 64 zeros).
- `hash` = sha256 of the canonical JSON of the entry without `hash` and `sig`.
- `sig` = HMAC-SHA256(key, hash) when `ECHOJEPA_LEDGER_KEY` is set (read once, at construction; the key is
  never written anywhere). Signing is all-or-nothing: with a key set, every line must carry a valid `sig`;
  without a key, a ledger that has signatures does not verify (it cannot be checked).

`verify()` names the first bad line (1-based, the physical line in the file):
- an edited line fails its own hash (or, if the editor recomputed that hash, the *next* line's `prev`;
  with a key, the edited line's signature);
- a deleted line k makes the line that now sits at position k fail its `prev` link, so the result names k;
- two swapped lines i < j make line i fail its `prev` link, so the result names i;
- truncation of the tail leaves a valid chain, so it is caught with `expected_heads`: the ledger head at each
  promotion, stored in that model's BentoML metadata (`ledger_head`, see `release.package.expected_heads`).
  Every expected head must be the hash of some line; if one is missing the result names the last line
  (line = number of lines) and says that the ledger was truncated after it.

Writers hold an exclusive `fcntl.flock` on the sidecar `<ledger>.lock`, verify the chain, and append with
one `write` on an `O_APPEND` descriptor followed by `fsync`, so two processes can never interleave or fork
the chain; readers take a shared lock. `transaction()` stages several entries that are written together
(or not at all).

Events: candidate, gates_failed, approved, rejected, expired, packaged, promoted, rollback. Every entry
carries `candidate_id` and `model_version`; `promoted` and `rollback` carry `bento_tag`, and their
`candidate_id` / `model_version` are the version that is production from that line on.

Modules: `release.ledger_chain` (line format, hashing, signing, `verify_chain`), `release.ledger_file`
(locking, reading, appending, transactions) and this one (`Ledger`: candidates and production).
"""

from __future__ import annotations

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
    sha256_file,
    verify_chain,
)
from release.ledger_file import DEFAULT_PATH, LedgerFile, LedgerTransaction

__all__ = [
    "DECISION_EVENTS",
    "DEFAULT_PATH",
    "EVENTS",
    "GENESIS",
    "KEY_ENV",
    "REQUIRED",
    "RESERVED",
    "Ledger",
    "LedgerError",
    "LedgerTransaction",
    "VerifyResult",
    "canonical_json",
    "entry_hash",
    "sha256_file",
    "verify_chain",
]

# a candidate's state, from its own entries (then `production` / `retired` from the promotion history)
_STATE_OF_EVENT = {
    "candidate": "pending",
    "gates_failed": "gates_failed",
    "approved": "approved",
    "rejected": "rejected",
    "expired": "expired",
}
DECISION_EVENTS = ("approved", "rejected", "expired")


class Ledger(LedgerFile):
    """Hash-chained, optionally HMAC-signed JSON-lines ledger at `path` (default `registry/ledger.jsonl`).

    Locking, reading, `verify`, `transaction` and `append` come from `LedgerFile`; the views of candidates
    and of production are here.
    """

    # ------------------------------------------------------------------ derived views
    def _production_stack(self, entries: list[dict] | None = None) -> list[dict]:
        """Promotion stack: `promoted` pushes; `rollback` pops back to its target (the previous
        production)."""
        stack: list[dict] = []
        for entry in self.entries() if entries is None else entries:
            if entry.get("event") == "promoted":
                stack.append(entry)
            elif entry.get("event") == "rollback":
                ids = [e.get("candidate_id") for e in stack]
                if entry.get("candidate_id") in ids:
                    del stack[len(ids) - ids[::-1].index(entry.get("candidate_id")) :]
                else:
                    stack.append(entry)
        return stack

    def production_entry(self) -> dict | None:
        """The last `promoted` or `rollback` entry (its candidate_id, model_version and bento_tag are
        production)."""
        current = None
        for entry in self.entries():
            if entry.get("event") in ("promoted", "rollback"):
                current = entry
        return current

    def production(self) -> str | None:
        """The model version that is production now (target of the last `promoted` or `rollback`), or None."""
        entry = self.production_entry()
        return None if entry is None else entry.get("model_version")

    def history(self) -> list[str]:
        """Production model versions in order, one per `promoted` / `rollback` line."""
        return [e.get("model_version") for e in self.entries() if e.get("event") in ("promoted", "rollback")]

    def previous_production(self) -> dict | None:
        """The entry that a rollback would return to (below the current one on the promotion stack), or
        None."""
        stack = self._production_stack()
        return stack[-2] if len(stack) >= 2 else None

    def candidate(self, candidate_id: str) -> dict:
        """One candidate's summary and entries; LedgerError if unknown."""
        for summary in self.candidates():
            if summary["candidate_id"] == candidate_id:
                return summary
        raise LedgerError(f"unknown candidate {candidate_id!r}")

    def candidates(self) -> list[dict]:
        """Every registered candidate in registration order, as
        `{candidate_id, model_version, state, initiator, registered, gates, failed_gates, metrics, params,
        data_version, git_commit, weights_sha256, evaluation_sha256, decision, bento_tag, entries}` where
        state is
        pending | gates_failed | approved | rejected | expired | production | retired and `decision` is the
        approved/rejected/expired entry (or None)."""
        entries = self.entries()
        current = None
        ever_production: set[str] = set()
        summaries: dict[str, dict] = {}
        for entry in entries:
            cid = entry.get("candidate_id")
            event = entry.get("event")
            if event == "candidate" and cid not in summaries:
                summaries[cid] = {
                    "candidate_id": cid,
                    "model_version": entry.get("model_version"),
                    "state": "pending",
                    "initiator": entry.get("initiator"),
                    "registered": entry.get("time"),
                    "gates": entry.get("gates", []),
                    "failed_gates": [],
                    "metrics": entry.get("metrics", {}),
                    "params": entry.get("params", {}),
                    "data_version": entry.get("data_version"),
                    "git_commit": entry.get("git_commit"),
                    "weights_sha256": entry.get("weights_sha256"),
                    "evaluation_sha256": entry.get("evaluation_sha256"),
                    "decision": None,
                    "bento_tag": None,
                    "entries": [],
                }
            summary = summaries.get(cid)
            if summary is None:
                continue
            summary["entries"].append(entry)
            if event in _STATE_OF_EVENT and event != "candidate":
                summary["state"] = _STATE_OF_EVENT[event]
            if event == "gates_failed":
                summary["failed_gates"] = entry.get("failed", [])
            if event in DECISION_EVENTS:
                summary["decision"] = entry
            if event in ("packaged", "promoted", "rollback") and entry.get("bento_tag"):
                summary["bento_tag"] = entry["bento_tag"]
            if event in ("promoted", "rollback"):
                current = cid
                ever_production.add(cid)
        for cid, summary in summaries.items():
            if cid == current:
                summary["state"] = "production"
            elif cid in ever_production:
                summary["state"] = "retired"
        return list(summaries.values())
