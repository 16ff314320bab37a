"""Separation of duties: may a reviewer's verified decision take effect on the ledger's state right now?

One function, `check_decision`, used in three places so the rule cannot drift between them: when a
reviewer signs (`release.decisions.sign_decision`, so a refusal comes at once), when a decision is
delivered (`record_decision`, `release.package.rollback`) and when the ledger is verified
(`release.ledger_rules.Replay`, line by line). The rules:

- the decision is for this ledger (its genesis hash) and this exact registration (or, for a rollback,
  this exact production line): a signed document cannot be replayed elsewhere or later;
- the reviewer is not the registrant, compared by principal and by key fingerprint (the same key under a
  second name is the same person); a rollback is applied by someone other than the reviewer who signed it;
- approve needs a pending candidate with no open gate failure; reject a pending or gates-failed one (so a
  run waiting for a waiver can be ended); a waiver names open failures and gives a reason; a rejection and
  a rollback give a reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from release.decision_docs import DecisionError, VerifiedDecision
from release.events import Action, CandidateState
from release.signing import Verified

if TYPE_CHECKING:
    from release.ledger_rules import Replay

# states whose run still waits for a reviewer: pending, or failed gates awaiting a waiver (or a rejection)
WAITING = frozenset({CandidateState.PENDING, CandidateState.GATES_FAILED})


def check_decision(replay: Replay, decision: VerifiedDecision, line_signer: Verified | None = None) -> None:
    """May `decision` take effect on the state `replay` is in? DecisionError (one line) if not."""
    if decision.ledger != replay.genesis:
        raise DecisionError("decision was signed for another ledger")
    if decision.action == Action.ROLLBACK:
        _check_rollback(replay, decision, line_signer)
        return
    record = replay.candidates.get(decision.candidate_id)
    if record is None:
        raise DecisionError(f"unknown candidate {decision.candidate_id!r}")
    if decision.registration != record.registration["hash"]:
        raise DecisionError(f"decision is for another registration of {decision.candidate_id}")
    _refuse_self(decision.reviewer, record.registrant, "registered this candidate", "self-approval")
    state = record.state
    if decision.action == Action.WAIVE:
        if not decision.reason.strip() or not decision.gates:
            raise DecisionError("a waiver names the gates it waives and gives a reason")
        unknown = sorted(set(decision.gates) - set(record.open_failures))
        if unknown or state not in (CandidateState.GATES_FAILED, CandidateState.PENDING):
            raise DecisionError(
                f"cannot waive {', '.join(unknown) or 'gates'}: {decision.candidate_id} is "
                f"{state}, open failures: {', '.join(record.open_failures) or 'none'}"
            )
        return
    if record.open_failures and decision.action != Action.REJECT:  # a failed candidate may be rejected
        raise DecisionError(
            f"candidate {decision.candidate_id} failed gate(s) {', '.join(record.open_failures)} "
            "at registration; a reviewer must waive them first"
        )
    if state not in WAITING:
        by = (record.decision or {}).get("reviewer")
        raise DecisionError(
            f"candidate {decision.candidate_id} is already {state}{f' by {by}' if by else ''}"
        )
    if decision.action == Action.REJECT and not decision.reason.strip():
        raise DecisionError("a rejection needs a reason")


def _check_rollback(replay: Replay, decision: VerifiedDecision, line_signer: Verified | None) -> None:
    if not decision.reason.strip():
        raise DecisionError("a rollback needs a reason")
    if replay.production is None or len(replay.stack) < 2:
        raise DecisionError("no previous production version to roll back to")
    if decision.production != replay.production["hash"]:
        raise DecisionError("rollback decision was signed for another production state")
    target = replay.stack[-2]
    if decision.candidate_id != target["candidate_id"]:
        raise DecisionError(f"rollback target {decision.candidate_id} is not the previous production")
    if line_signer is not None:
        _refuse_self(decision.reviewer, line_signer, "is also the one applying it", "one person")


def _refuse_self(reviewer: Verified, other: Verified | None, what: str, rule: str) -> None:
    """Separation of duties: the same principal, or the same key under another name, is one person."""
    if other is None:
        return
    same_key = bool(reviewer.fingerprint) and reviewer.fingerprint == other.fingerprint
    if same_key or reviewer.principal.casefold() == other.principal.casefold():
        raise DecisionError(
            f"reviewer {reviewer.principal} {what} ({other.principal}); {rule} is not allowed"
        )
