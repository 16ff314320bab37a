"""Reviewer decision rules over the release ledger. Every refusal is a `DecisionError` with a one-line reason.

- A candidate is registered with its gates; if any gate failed, a `gates_failed` line follows at once (in
  the same locked write) and the candidate can never be approved, packaged or become production.
- A pending candidate is decided once: `approved`, `rejected` (a reason is required) or `expired` (the
  approval wait timed out; never approved). Deciding twice is refused.
- The reviewer must be named, must differ from the candidate's initiator (no self-approval, compared
  case-insensitively) and, when `release.reviewers` in params.yaml is a non-empty list, must be on it.
- Checks and the append happen under the ledger's exclusive lock, so two concurrent reviewers cannot
  both decide.
"""

from __future__ import annotations

import getpass
import os
import secrets
from typing import Any

from release.ledger import Ledger, LedgerError

SCHEDULER = "scheduler"


class DecisionError(ValueError):
    """A release rule refused the request (one line)."""


def current_initiator(scheduled: bool = False) -> str:
    """Who starts a run: `scheduler` for cron and event runs, else the OS user (getpass)."""
    if scheduled:
        return SCHEDULER
    try:
        user = getpass.getuser()
    except Exception:  # no login name and no passwd entry (some containers)
        user = ""
    if user:
        return user
    return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _failed_gate_names(gates: list[dict]) -> list[str]:
    """Names of the blocking failed gates (GateResult.blocks: failed and not advisory)."""
    from evaluation.gates import GateResult

    results = []
    for i, gate in enumerate(gates):
        if not isinstance(gate, dict) or "passed" not in gate:
            raise DecisionError(f"gate {i} has no 'passed' field: {gate!r}"[:200])
        try:
            results.append(GateResult.from_json(gate))
        except (KeyError, TypeError, ValueError) as exc:
            raise DecisionError(f"gate {i} is not a gate row ({exc}): {gate!r}"[:200]) from None
    return [g.name for g in results if g.blocks]


def register_candidate(
    ledger: Ledger,
    *,
    model_version: str,
    weights_sha256: str,
    data_version: str,
    git_commit: str,
    evaluation_sha256: str,
    gates: list[dict],
    initiator: str,
    metrics: dict,
    params: dict,
) -> str:
    """Append `candidate` (+ `gates_failed` when any gate did not pass); returns the new id `cand-<8 hex>`.

    `weights_sha256` is the sha256 of the run's encoder.pt (`release.ledger.sha256_file`); packaging checks
    it.
    """
    if not str(model_version).strip():
        raise DecisionError("model_version is empty")
    if not str(initiator).strip():
        raise DecisionError("initiator is empty")
    failed = _failed_gate_names(list(gates))
    with ledger.transaction() as tx:
        known = {e.get("candidate_id") for e in tx.entries}
        candidate_id = f"cand-{secrets.token_hex(4)}"
        while candidate_id in known:  # pragma: no cover - 1 in 4e9
            candidate_id = f"cand-{secrets.token_hex(4)}"
        tx.stage(
            "candidate",
            candidate_id=candidate_id,
            model_version=model_version,
            weights_sha256=weights_sha256,
            data_version=data_version,
            git_commit=git_commit,
            evaluation_sha256=evaluation_sha256,
            gates=list(gates),
            initiator=initiator.strip(),
            metrics=metrics,
            params=params,
        )
        if failed:
            tx.stage("gates_failed", candidate_id=candidate_id, model_version=model_version, failed=failed)
    return candidate_id


def _summary(ledger: Ledger, candidate_id: str) -> dict:
    try:
        return ledger.candidate(candidate_id)
    except LedgerError as exc:
        raise DecisionError(str(exc)) from None


def _refuse_unless_pending(summary: dict, action: str) -> None:
    cid, state = summary["candidate_id"], summary["state"]
    if state == "gates_failed":
        raise DecisionError(
            f"candidate {cid} failed its gates ({', '.join(summary['failed_gates'])}); cannot {action}"
        )
    if state != "pending":
        decision = summary.get("decision") or {}
        who = f" by {decision['reviewer']}" if decision.get("reviewer") else ""
        when = f" at {decision['time']}" if decision.get("time") else ""
        raise DecisionError(f"candidate {cid} is already {state}{who}{when}; cannot {action}")


def check_decision(
    ledger: Ledger, candidate_id: str, reviewer: str, reviewers_allow_list: tuple[str, ...] | None
) -> None:
    """Raise DecisionError unless `reviewer` may decide `candidate_id` now (see the module docstring)."""
    name = (reviewer or "").strip()
    if not name:
        raise DecisionError("reviewer name is empty")
    summary = _summary(ledger, candidate_id)
    _refuse_unless_pending(summary, "decide")
    _refuse_failed_gates(summary, "decided")
    initiator = str(summary.get("initiator") or "").strip()
    if initiator and name.casefold() == initiator.casefold():
        raise DecisionError(f"reviewer {name} started this run; self-approval is not allowed")
    if reviewers_allow_list and name not in {str(r).strip() for r in reviewers_allow_list}:
        raise DecisionError(f"reviewer {name} is not on the allow-list (release.reviewers)")


def record_decision(
    ledger: Ledger,
    candidate_id: str,
    *,
    approve: bool,
    reviewer: str,
    comment: str = "",
    reason: str = "",
    reviewers_allow_list: tuple[str, ...] | None = None,
) -> dict:
    """Check, then append `approved` or `rejected` (a rejection needs a reason); returns the ledger entry."""
    if not approve and not reason.strip():
        raise DecisionError("a rejection needs a reason")
    with ledger.transaction() as tx:  # checks and append under one exclusive lock
        check_decision(ledger, candidate_id, reviewer, reviewers_allow_list)
        summary = _summary(ledger, candidate_id)
        return tx.stage(
            "approved" if approve else "rejected",
            candidate_id=candidate_id,
            model_version=summary["model_version"],
            reviewer=reviewer.strip(),
            comment=comment,
            reason=reason,
        )


def record_expiry(ledger: Ledger, candidate_id: str, waited_s: float) -> dict:
    """The approval wait timed out: append `expired` (the candidate can never be approved afterwards)."""
    with ledger.transaction() as tx:
        summary = _summary(ledger, candidate_id)
        _refuse_unless_pending(summary, "expire")
        return tx.stage(
            "expired",
            candidate_id=candidate_id,
            model_version=summary["model_version"],
            waited_s=float(waited_s),
            reason=f"no reviewer decision within {float(waited_s):.0f} s",
        )


def _refuse_failed_gates(summary: dict[str, Any], what: str) -> None:
    """The gates recorded in the candidate's own registration line decide, not only a later `gates_failed`
    line: deleting that (last) line from an unsigned ledger must not make a failed candidate eligible."""
    failed = _failed_gate_names(summary.get("gates") or [])
    if failed:
        raise DecisionError(
            f"candidate {summary['candidate_id']} failed gate(s) {', '.join(failed)} at registration; "
            f"it cannot be {what}"
        )


def approved_entry(ledger: Ledger, candidate_id: str) -> dict[str, Any]:
    """The candidate's summary if it is approved (and not yet packaged); DecisionError otherwise."""
    summary = _summary(ledger, candidate_id)
    _refuse_failed_gates(summary, "packaged")
    if summary["state"] != "approved":
        if summary["state"] == "gates_failed":
            _refuse_unless_pending(summary, "package")
        raise DecisionError(
            f"candidate {candidate_id} is {summary['state']}; only an approved candidate can be packaged"
        )
    if any(e.get("event") == "packaged" for e in summary["entries"]):
        raise DecisionError(f"candidate {candidate_id} is already packaged as {summary['bento_tag']}")
    return summary
