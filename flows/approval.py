"""The reviewer's decision on a release candidate: the Prefect form, the wait, and how a decision reaches
the waiting flow run.

A retrain flow run that registered candidate C carries the tag `candidate:C` and waits for a `Decision`:

* run from the CLI (no deployment): `pause_flow_run` keeps the process alive and polls the API;
* run from a deployment (schedule, drift event, UI): `suspend_flow_run` ends the process, so nothing is
  held for days; on resume the served deployment runs the flow again, its finished tasks come back from
  their persisted results, and the suspension returns the reviewer's input.

Either way a reviewer resumes it with the form of the Prefect UI ("Resume" on the paused run) or with
`echojepa release approve|reject`, which checks the decision first and calls `resume_flow_run` with the
same fields. Every decision is validated in the flow by `release.decisions` (reviewer differs from the
initiator, allow-list, candidate still pending): an invalid one is logged and the run waits again, so a
UI typo never releases a model. The flow writes the decision to the ledger: one entry per decision.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.input import RunInput

if TYPE_CHECKING:
    from release.ledger import Ledger

DECIDED = ("approved", "rejected", "expired", "production", "retired")
SCHEMA_WAIT_S = 15.0  # a run that has just paused saves its form a moment later


class Decision(RunInput):
    """A reviewer's decision on a release candidate (the form of the Prefect UI)."""

    approve: bool
    reviewer: str
    comment: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Verdict:
    """How the wait ended: the candidate's ledger state (approved, rejected or expired) and by whom."""

    state: str
    reviewer: str = ""
    note: str = ""


def candidate_tag(candidate_id: str) -> str:
    """The flow-run tag that says which candidate a run waits for."""
    return f"candidate:{candidate_id}"


def wait_for_decision(
    ledger: Ledger,
    candidate_id: str,
    *,
    opened_at: float,
    timeout_s: float,
    allow_list: tuple[str, ...] | None,
    suspend: bool,
    poll_s: int = 10,
    description: str = "",
    logger=None,
) -> Verdict:
    """Wait (inside a flow run) for a valid decision on a pending candidate and record it in the ledger.

    A decision that `check_decision` or `record_decision` refuses is logged and the run waits again for
    the rest of the window. A candidate decided meanwhile (e.g. directly in the ledger) ends the wait
    with that state; timeout records the expiry.

    Args:
        opened_at: when the window opened (epoch seconds); a resumed, replayed run keeps its window.
        timeout_s: length of the window.
        suspend: suspend (deployment runs) instead of pausing in-process.

    Returns:
        The verdict: approved, rejected or expired.
    """
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    from release.decisions import DecisionError, check_decision, record_decision, record_expiry

    form = Decision.with_initial_data(description=description or None, approve=False, reviewer="")
    attempt = 0
    while True:
        decided = _decided(ledger, candidate_id)
        if decided:
            return decided
        remaining = opened_at + timeout_s - time.time()
        attempt += 1
        try:
            if remaining <= 0:
                raise FlowPauseTimeout("approval window closed")
            if suspend:  # ends the process here; the resumed run replays up to this call
                decision = suspend_flow_run(
                    wait_for_input=form, timeout=max(1, round(remaining)), key=f"decision-{attempt}"
                )
            else:
                decision = pause_flow_run(
                    wait_for_input=form, timeout=remaining, poll_interval=poll_s, key=f"decision-{attempt}"
                )
        except FlowPauseTimeout:
            if _decided(ledger, candidate_id):
                continue
            waited = time.time() - opened_at
            with contextlib.suppress(DecisionError):  # `release approve` may have recorded it just now
                record_expiry(ledger, candidate_id, waited)
            return _decided(ledger, candidate_id) or Verdict("expired")
        try:
            check_decision(ledger, candidate_id, decision.reviewer, allow_list)
            record_decision(
                ledger, candidate_id, approve=decision.approve, reviewer=decision.reviewer,
                comment=decision.comment, reason=decision.reason, reviewers_allow_list=allow_list,
            )  # fmt: skip
        except DecisionError as exc:
            if logger is not None:
                logger.warning("decision by %r refused: %s; waiting again", decision.reviewer, exc)
            continue
        state = "approved" if decision.approve else "rejected"
        return Verdict(state, decision.reviewer, decision.comment if decision.approve else decision.reason)


def _decided(ledger: Ledger, candidate_id: str) -> Verdict | None:
    """The candidate's verdict if the ledger already holds one."""
    summary = ledger.candidate(candidate_id)
    if summary["state"] not in DECIDED:
        return None
    decision = summary.get("decision") or {}
    note = decision.get("reason") or decision.get("comment") or ""
    return Verdict(summary["state"], str(decision.get("reviewer") or ""), str(note))


def candidate_run(candidate_id: str, settle_s: float = SCHEMA_WAIT_S):
    """The flow run of this candidate: the one paused for a decision, else the latest one (None if no run
    carries the candidate's tag).

    A run that is still running (about to pause) is waited for up to `settle_s`, so a quick reviewer
    does not race the flow into deciding twice.
    """
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
    from prefect.client.schemas.sorting import FlowRunSort

    query = FlowRunFilter(tags=FlowRunFilterTags(all_=[candidate_tag(candidate_id)]))
    deadline = time.monotonic() + settle_s
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(flow_run_filter=query, sort=FlowRunSort.START_TIME_DESC)
            paused = [r for r in runs if r.state and r.state.is_paused()]
            if paused or not runs:
                return (paused or [None])[0]
            settled = all(r.state is None or r.state.is_final() for r in runs)
            if settled or time.monotonic() > deadline:
                return runs[0]
            time.sleep(0.5)


def find_waiting_run(candidate_id: str, settle_s: float = SCHEMA_WAIT_S) -> UUID | None:
    """The id of the flow run paused for a decision on this candidate, if any."""
    run = candidate_run(candidate_id, settle_s)
    return run.id if run is not None and run.state is not None and run.state.is_paused() else None


def submit_decision(
    ledger: Ledger,
    candidate_id: str,
    *,
    approve: bool,
    reviewer: str,
    comment: str = "",
    reason: str = "",
    allow_list: tuple[str, ...] | None = None,
) -> str:
    """What `echojepa release approve|reject` does: check, then resume the waiting run.

    The decision reaches the ledger exactly once, through the resumed run. With no run waiting, a rejection
    is recorded here directly and an approval is refused (nothing would package it). A run that failed
    because its pause timed out means the candidate expired (recorded so).

    Returns:
        One line saying where the decision went.

    Raises:
        DecisionError: the decision is refused (self-approval, not on the allow-list, already decided).
        ValueError: the candidate's approval window has closed (its expiry is recorded).
    """
    from release.decisions import check_decision, record_decision

    check_decision(ledger, candidate_id, reviewer, allow_list)
    verb = "approved" if approve else "rejected"
    run = candidate_run(candidate_id)
    if run is not None and run.state is not None and run.state.is_paused():
        fields = {"approve": approve, "reviewer": reviewer, "comment": comment, "reason": reason}
        _resume(ledger, candidate_id, run.id, fields)
        return f"{candidate_id} {verb} by {reviewer}: resumed flow run {run.id} (it records the decision)"
    if run is not None and run.state is not None and "never resumed" in (run.state.message or ""):
        _expire(ledger, candidate_id, run.id)
    why = "no flow run exists for it" if run is None else f"its flow run {run.id} is {run.state.name}"
    if approve:  # only the waiting run packages; an approval recorded here would never reach production
        from release.decisions import DecisionError

        raise DecisionError(
            f"{candidate_id}: cannot approve, {why}; an approval resumes the waiting retrain run, which "
            "packages the model (start `echojepa retrain` again)"
        )
    record_decision(
        ledger, candidate_id, approve=approve, reviewer=reviewer, comment=comment, reason=reason,
        reviewers_allow_list=allow_list,
    )  # fmt: skip
    return f"{candidate_id} {verb} by {reviewer}: {why}; recorded in the ledger directly"


def _resume(ledger: Ledger, candidate_id: str, run_id: UUID, run_input: dict) -> None:
    """`resume_flow_run`, waiting briefly for a just-paused run to save its form; an expired window is
    recorded as such."""
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import resume_flow_run

    deadline = time.monotonic() + SCHEMA_WAIT_S
    while True:
        try:
            resume_flow_run(run_id, run_input=run_input)
            return
        except FlowPauseTimeout:
            _expire(ledger, candidate_id, run_id)
        except RuntimeError as exc:
            if "schema not found" not in str(exc) or time.monotonic() > deadline:
                raise ValueError(f"{candidate_id}: flow run {run_id} could not be resumed: {exc}") from None
            time.sleep(0.5)


def _expire(ledger: Ledger, candidate_id: str, run_id: UUID) -> None:
    """The run's approval window closed: record the expiry (unless recorded already) and refuse."""
    from release.decisions import DecisionError, record_expiry

    with contextlib.suppress(DecisionError):  # the flow itself may have recorded it a moment ago
        record_expiry(ledger, candidate_id, _waited_s(run_id))
    raise ValueError(
        f"{candidate_id}: the approval window closed before this decision; the candidate expired"
    )


def _waited_s(run_id: UUID) -> float:
    """Seconds the run has been paused (0 when the API does not say)."""
    from datetime import UTC, datetime

    from prefect import get_client

    with get_client(sync_client=True) as client:
        state = client.read_flow_run(run_id).state
    if state is None or state.timestamp is None:
        return 0.0
    return max(0.0, (datetime.now(UTC) - state.timestamp).total_seconds())
