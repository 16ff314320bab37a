"""Release rules as operations on the ledger. Every refusal is a `DecisionError` with a one-line reason.

- A candidate is registered by the key that signs its `candidate` line (the initiator: a person, or the
  `scheduler` service key for cron and event runs). Its files are frozen first (`release.manifest`) and
  the line records their manifest. A blocking failed gate adds `gates_failed` in the same write.
- A decision is a reviewer's signed document (`sign_decision` makes one; `verify_decision` checks one):
  approve, reject (with a reason), waive (names failed gates, with a reason) or rollback
  (`release.package.rollback`). It is valid only when signed in the reviewer role by a principal who
  is not the registrant (nor the same key under another name). A pending candidate is decided once;
  a candidate with failed gates can be approved only after a reviewer waived each of them.
- The waiting flow trusts a ledger state only through `verified_candidate`, which verifies the whole
  ledger (chain, signatures, rules, witnesses) first: a hand-appended `approved` line fails there.
- Checks and appends happen under the ledger's exclusive lock, replayed by the same rules `verify` uses.
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from release.decision_docs import DecisionError, VerifiedDecision, check_document, make_document
from release.duties import WAITING, check_decision
from release.events import ACTION_EVENT, Action, CandidateState, Event, Role
from release.ledger import CandidateSummary, Ledger, LedgerError
from release.ledger_rules import Replay, blocking_failures
from release.manifest import freeze_candidate
from release.signing import SignatureError, Signer

__all__ = [
    "DecisionError",
    "VerifiedDecision",
    "approved_candidate",
    "change_signers",
    "record_decision",
    "record_expiry",
    "register_candidate",
    "sign_decision",
    "start_ledger",
    "verified_candidate",
    "verify_decision",
]


def verified(ledger: Ledger) -> Replay:
    """The ledger's strictly replayed state; DecisionError naming the bad line when it does not verify."""
    try:
        return ledger.verified_replay()
    except LedgerError as exc:
        raise DecisionError(str(exc)) from None


def start_ledger(ledger: Ledger, signer: Signer, allowed_signers: str) -> dict:
    """Line 1 of a new ledger: the allowed signers it trusts, signed by a release manager listed in them."""
    if ledger.entries():
        raise DecisionError(f"{ledger.path} already has entries; change the signers with change_signers")
    version = _release_managed(ledger, allowed_signers)
    return ledger.append(signer, Event.SIGNERS_CHANGED, new_signers=version.sha256, previous_signers=None)


def change_signers(ledger: Ledger, signer: Signer, allowed_signers: str) -> dict:
    """A `signers-changed` line adopting a new allowed-signers version, signed by a release manager of the
    version in force (so a key added by anyone else never takes effect)."""
    current = verified(ledger).pinned
    version = _release_managed(ledger, allowed_signers)
    if current is not None and version.sha256 == current.sha256:
        raise DecisionError("the allowed signers are unchanged")
    return ledger.append(
        signer,
        Event.SIGNERS_CHANGED,
        new_signers=version.sha256,
        previous_signers=None if current is None else current.sha256,
    )


def _release_managed(ledger: Ledger, text: str):
    try:
        version = ledger.signers.put(text)
    except SignatureError as exc:
        raise DecisionError(str(exc)) from None
    if not any(Role.RELEASE_MANAGER in line.roles for line in version.lines):
        raise DecisionError(
            "the allowed signers must keep a release manager (nobody could change them again)"
        )
    return version


def register_candidate(
    ledger: Ledger,
    *,
    signer: Signer,
    files: Mapping[str, Path],
    model_version: str,
    data_version: str,
    git_commit: str,
    gates: list[dict],
    metrics: dict,
    params: dict,
    data_hashes: Mapping[str, str] | None = None,
) -> str:
    """Freeze `files` ({packaged name: path}; encoder.pt and evaluation.json required) and append
    `candidate` (+ `gates_failed`), signed by `signer`; returns the new id `cand-<8 hex>`."""
    if not str(model_version).strip():
        raise DecisionError("model_version is empty")
    for name in ("encoder.pt", "evaluation.json"):
        if name not in files:
            raise DecisionError(f"the candidate files must include {name}")
    try:
        json.loads(Path(files["evaluation.json"]).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise DecisionError(f"{files['evaluation.json']} is not a readable JSON file") from None
    for i, gate in enumerate(gates):
        if not isinstance(gate, dict) or "passed" not in gate:
            raise DecisionError(f"gate {i} has no 'passed' field: {gate!r}"[:200])
    replay = verified(ledger)  # refuse before copying anything
    candidate_id = f"cand-{secrets.token_hex(4)}"
    while candidate_id in replay.candidates or (ledger.candidates_dir / candidate_id).exists():
        candidate_id = f"cand-{secrets.token_hex(4)}"  # pragma: no cover - 1 in 4e9
    manifest = freeze_candidate(ledger.candidates_dir, candidate_id, files)
    try:
        with ledger.transaction(signer) as tx:
            tx.stage(
                Event.CANDIDATE,
                candidate_id=candidate_id,
                model_version=model_version,
                manifest=manifest,
                weights_sha256=manifest["encoder.pt"],
                evaluation_sha256=manifest["evaluation.json"],
                data_version=data_version,
                git_commit=git_commit,
                data_hashes=dict(data_hashes or {}),
                gates=list(gates),
                metrics=metrics,
                params=params,
            )
            failed = blocking_failures(list(gates))
            if failed:
                tx.stage(
                    Event.GATES_FAILED, candidate_id=candidate_id, model_version=model_version, failed=failed
                )
    except Exception:
        shutil.rmtree(ledger.candidates_dir / candidate_id, ignore_errors=True)  # nothing names it
        raise
    return candidate_id


def sign_decision(
    ledger: Ledger,
    signer: Signer,
    action: Action | str,
    candidate_id: str = "",
    *,
    comment: str = "",
    reason: str = "",
    gates: tuple[str, ...] | list[str] = (),
) -> str:
    """The signed decision document (one line) for `action` on `candidate_id` (a rollback: on the current
    production). Checked as the receiving side will check it, so a refusal comes now, not later."""
    replay = verified(ledger)
    action = Action(action)
    payload: dict[str, Any] = {
        "action": str(action),
        "ledger": replay.genesis,
        "comment": comment,
        "reason": reason,
    }
    if action == Action.ROLLBACK:
        if replay.production is None or len(replay.stack) < 2:
            raise DecisionError("no previous production version to roll back to")
        target = replay.stack[-2]
        payload |= {
            "candidate_id": target["candidate_id"],
            "model_version": target["model_version"],
            "production": replay.production["hash"],
        }
    else:
        record = replay.candidates.get(candidate_id)
        if record is None:
            raise DecisionError(f"unknown candidate {candidate_id!r}")
        payload |= {
            "candidate_id": candidate_id,
            "model_version": record.registration.get("model_version"),
            "registration": record.registration["hash"],
            "gates": list(gates),
        }
    try:
        text = make_document(signer, replay.pinned, payload)
    except SignatureError as exc:
        raise DecisionError(str(exc)) from None
    check_decision(replay, check_document(text, replay.pinned))
    return text


def verify_decision(text: str, ledger: Ledger) -> VerifiedDecision:
    """Check a decision document against the ledger as it is now: signature (reviewer role, the signers in
    force), binding (this ledger, this registration or production state), separation of duties, state."""
    replay = verified(ledger)
    decision = check_document(text, replay.pinned)
    check_decision(replay, decision)
    return decision


def record_decision(ledger: Ledger, text: str, *, signer: Signer) -> dict:
    """Append the decision line (`approved`, `rejected` or `waived`) carrying the reviewer's document;
    `signer` is whoever delivers it (the waiting run's key, or the reviewer's own)."""
    with ledger.transaction(signer) as tx:
        decision = check_document(text, tx.replay.pinned)
        if decision.action == Action.ROLLBACK:
            raise DecisionError("a rollback decision is applied by `release.package.rollback`")
        check_decision(tx.replay, decision)
        record = tx.replay.candidates[decision.candidate_id]
        extra = {"gates": list(decision.gates)} if decision.action == Action.WAIVE else {}
        return tx.stage(
            ACTION_EVENT[decision.action],
            candidate_id=decision.candidate_id,
            model_version=record.registration.get("model_version"),
            reviewer=decision.reviewer.principal,
            comment=decision.comment,
            reason=decision.reason,
            decision=decision.text,
            **extra,
        )


def record_expiry(ledger: Ledger, candidate_id: str, waited_s: float, *, signer: Signer) -> dict:
    """The approval wait timed out: append `expired` (the candidate can never be approved afterwards)."""
    with ledger.transaction(signer) as tx:
        record = tx.replay.candidates.get(candidate_id)
        if record is None:
            raise DecisionError(f"unknown candidate {candidate_id!r}")
        if record.state not in WAITING:  # pending, or still waiting for a waiver of its failed gates
            raise DecisionError(f"candidate {candidate_id} is already {record.state}; cannot expire")
        return tx.stage(
            Event.EXPIRED,
            candidate_id=candidate_id,
            model_version=record.registration.get("model_version"),
            waited_s=float(waited_s),
            reason=f"no reviewer decision within {float(waited_s):.0f} s",
        )


def verified_candidate(ledger: Ledger, candidate_id: str) -> CandidateSummary:
    """A candidate's summary from a ledger that verifies (what a waiting flow may act on)."""
    record = verified(ledger).candidates.get(candidate_id)
    if record is None:
        raise DecisionError(f"unknown candidate {candidate_id!r}")
    return CandidateSummary.from_record(record)


def approved_candidate(replay: Replay, candidate_id: str) -> CandidateSummary:
    """The candidate if it is approved and not yet packaged; DecisionError saying what it is otherwise."""
    record = replay.candidates.get(candidate_id)
    if record is None:
        raise DecisionError(f"unknown candidate {candidate_id!r}")
    if record.open_failures:
        raise DecisionError(
            f"candidate {candidate_id} failed gate(s) {', '.join(record.open_failures)}; "
            "it cannot be packaged"
        )
    if record.packaged is not None:
        raise DecisionError(f"candidate {candidate_id} is already packaged as {record.packaged['bento_tag']}")
    if record.state != CandidateState.APPROVED:
        raise DecisionError(
            f"candidate {candidate_id} is {record.state}; only an approved candidate can be packaged"
        )
    return CandidateSummary.from_record(record)
