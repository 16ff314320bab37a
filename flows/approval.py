"""The reviewer's decision on a release candidate: the Prefect form, the wait, and how a signed decision
reaches the waiting flow run.

A retrain flow run that registered candidate C carries the tag `candidate:C` and waits for a `Decision`:
the one line `echojepa release sign C --approve|--reject|--waive GATE` printed, signed with the reviewer's
key. It waits the same way wherever it runs:

* run from the CLI (no deployment): `pause_flow_run` keeps the process alive and polls the API;
* run from a deployment (schedule, drift event, UI): `suspend_flow_run` ends the process, so nothing is
  held for days; on resume the served deployment runs the flow again, its finished tasks come back from
  their persisted results, and the suspension returns the reviewer's input.

The decision arrives through the UI form ("Resume" on the paused run) or `echojepa release approve|reject|
submit`, which verifies it first and resumes the run with the same text. The run trusts nothing it is
given: it records the text with `release.decisions.record_decision`, which verifies the signature (a
reviewer of the signers in force), the binding (this ledger, this registration) and separation of duties
(not the registrant). A refused decision is logged in one line and the run waits again, so a pasted typo
or a self-approval never releases a model. A waiver is recorded and the run waits on for the approval.

The run reads the candidate's state only from a ledger that verifies (`verified_candidate`): an
`approved` line appended by hand makes the ledger fail verification, and the run ends without packaging.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from uuid import UUID

from prefect.input import RunInput
from pydantic import Field

from release.events import Action, CandidateState, Event

if TYPE_CHECKING:
    from release.ledger import Ledger
    from release.signing import Signer

# states that end a wait (production / retired: a retried run whose packaging had finished)
DECIDED = frozenset(CandidateState) - {CandidateState.PENDING, CandidateState.GATES_FAILED}
UNVERIFIED = "unverified"  # a Verdict state: the ledger does not verify, so nothing it says is acted on
SCHEMA_WAIT_S = 15.0  # a run that has just paused saves its form a moment later


class Decision(RunInput):
    """A reviewer's signed decision (the form of the Prefect UI): one line, as `release sign` prints it."""

    decision: str = Field(
        description="the line `echojepa release sign CANDIDATE --approve|--reject|--waive GATE` printed "
        "(echojepa-decision-v1.…), signed with your key; unsigned or self-signed decisions are refused",
    )


@dataclass(frozen=True)
class Verdict:
    """How the wait ended: the candidate's verified ledger state (or UNVERIFIED) and by whom."""

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
    signer: Signer,
    opened_at: float,
    timeout_s: float,
    suspend: bool,
    poll_s: int = 10,
    description: str = "",
    logger=None,
) -> Verdict:
    """Wait (inside a flow run) for a reviewer's signed decision and record it in the ledger (a line
    written by `signer`, the run's key, carrying the reviewer's document).

    A refused decision is logged and the run waits again for the rest of the window; a waiver is
    recorded and the run waits on. A candidate decided meanwhile (e.g. a rejection recorded by the CLI)
    ends the wait with that state; timeout records the expiry. A ledger that stops verifying ends the
    wait with UNVERIFIED (its reason in `note`).

    Args:
        opened_at: when the window opened (epoch seconds); a resumed, replayed run keeps its window.
        timeout_s: length of the window.
        suspend: suspend (deployment runs) instead of pausing in-process.
    """
    from prefect.exceptions import FlowPauseTimeout
    from prefect.flow_runs import pause_flow_run, suspend_flow_run

    from release.decisions import DecisionError, record_decision, record_expiry
    from release.ledger import LedgerError

    form = Decision.with_initial_data(description=description or None, decision="")
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
            key = f"decision-{attempt}"
            if suspend:  # ends the process here; the resumed run replays up to this call
                given = suspend_flow_run(wait_for_input=form, timeout=max(1, round(remaining)), key=key)
            else:
                given = pause_flow_run(wait_for_input=form, timeout=remaining, poll_interval=poll_s, key=key)
        except FlowPauseTimeout:
            if _decided(ledger, candidate_id):
                continue
            with contextlib.suppress(DecisionError, LedgerError):  # recorded just now, or cannot be
                record_expiry(ledger, candidate_id, time.time() - opened_at, signer=signer)
            return _decided(ledger, candidate_id) or Verdict(CandidateState.EXPIRED)
        recorded = {e.get("decision") for e in ledger.candidate(candidate_id).entries}
        if given.decision.strip() in recorded:  # a resumed deployment run replays its earlier inputs
            continue
        try:
            entry = record_decision(ledger, given.decision, signer=signer)
        except (DecisionError, LedgerError) as exc:
            if logger is not None:
                logger.warning("decision refused: %s; waiting again", str(exc).splitlines()[0])
            continue
        if entry["event"] == Event.WAIVED and logger is not None:
            logger.warning(
                "gate(s) %s waived by %s (%s); waiting for the approval",
                ", ".join(entry["gates"]), entry["reviewer"], entry["reason"],
            )  # fmt: skip


def _decided(ledger: Ledger, candidate_id: str) -> Verdict | None:
    """The candidate's verdict if the verified ledger holds one; UNVERIFIED when it does not verify."""
    from release.decisions import DecisionError, verified_candidate

    try:
        summary = verified_candidate(ledger, candidate_id)
    except DecisionError as exc:
        return Verdict(UNVERIFIED, note=str(exc))
    if summary.state not in DECIDED:
        return None
    decision = summary.decision or {}
    note = decision.get("reason") or decision.get("comment") or ""
    return Verdict(str(summary.state), summary.reviewer, str(note))


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


def submit_decision(ledger: Ledger, text: str, *, signer: Signer | None = None) -> str:
    """What `echojepa release approve|reject|submit` does: verify the signed decision, then resume the
    run waiting for its candidate with the same text (the run records it: once, with its own key).

    With no run waiting, a rejection is recorded here, in a line written by `signer` (the reviewer's own
    key); an approval or a waiver is refused, since no run would package the candidate. A run that failed
    because its pause timed out means the candidate expired.

    Returns:
        One line saying where the decision went.

    Raises:
        DecisionError: the decision is refused (unsigned, wrong key or role, self-approval, decided).
        ValueError: the candidate's approval window has closed.
    """
    from release.decisions import DecisionError, record_decision, verify_decision

    decision = verify_decision(text, ledger)
    if decision.action == Action.ROLLBACK:
        raise DecisionError("a rollback decision is applied with `echojepa release rollback`")
    cid, said = decision.candidate_id, f"{decision.action} by {decision.reviewer.principal}"
    run = candidate_run(cid)
    if run is not None and run.state is not None and run.state.is_paused():
        _resume(ledger, cid, run.id, {"decision": decision.text}, signer)
        return f"{cid}: {said}: resumed flow run {run.id} (it records the decision)"
    if run is not None and run.state is not None and "never resumed" in (run.state.message or ""):
        _expire(ledger, cid, run.id, signer)
    why = "no flow run exists for it" if run is None else f"its flow run {run.id} is {run.state.name}"
    if decision.action != Action.REJECT:  # only the waiting run packages: this would never reach production
        raise DecisionError(
            f"{cid}: cannot {decision.action}, {why}; the decision resumes the waiting retrain run, which "
            "packages the model (start `echojepa retrain` again)"
        )
    if signer is None:
        raise DecisionError(f"{cid}: {why}; to record the rejection directly, pass --key (your key)")
    record_decision(ledger, decision.text, signer=signer)
    return f"{cid}: {said}: {why}; recorded in the ledger directly"


def _resume(ledger: Ledger, candidate_id: str, run_id: UUID, run_input: dict, signer) -> None:
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
            _expire(ledger, candidate_id, run_id, signer)
        except RuntimeError as exc:
            if "schema not found" not in str(exc) or time.monotonic() > deadline:
                raise ValueError(f"{candidate_id}: flow run {run_id} could not be resumed: {exc}") from None
            time.sleep(0.5)


def _expire(ledger: Ledger, candidate_id: str, run_id: UUID, signer) -> None:
    """The run's approval window closed: record the expiry (when this key may, and it is not recorded
    yet; the run records it itself otherwise) and refuse."""
    from release.decisions import DecisionError, record_expiry
    from release.ledger import LedgerError

    if signer is not None:
        with contextlib.suppress(DecisionError, LedgerError):
            record_expiry(ledger, candidate_id, _waited_s(run_id), signer=signer)
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
