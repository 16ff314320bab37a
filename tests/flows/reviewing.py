"""What a reviewer does to a waiting retrain run, for the flow tests: find the paused run of a candidate,
sign a decision with a session key, resume the run as the Prefect UI's form would (no check on this
side), and read the run's artifacts. A `Reviewer` thread acts while the flow waits in the main thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from uuid import UUID

from flows.approval import find_waiting_run
from flows.retrain import retrain
from release.decisions import sign_decision
from release.events import CandidateState
from release.ledger import open_ledger
from tests.flows.conftest import release_settings


def ledger():
    return open_ledger(release_settings(Path.cwd()))


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    """Poll `condition` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def paused_candidate(states=(CandidateState.PENDING, CandidateState.GATES_FAILED), after: int = 0):
    """The newest waiting candidate and the flow run paused for it, once the ledger has more than `after`
    lines (waits for both)."""

    def found():
        book = ledger()
        waiting = [c for c in book.candidates() if c.state in states] if len(book.entries()) > after else []
        run = find_waiting_run(waiting[-1].candidate_id, settle_s=0) if waiting else None
        return (waiting[-1].candidate_id, run) if run else None

    return wait_for(found, what="a paused retrain run")


class Reviewer(threading.Thread):
    """Runs `act(candidate_id, run_id)` once the flow has paused; keeps what it returned or raised."""

    def __init__(self, act: Callable[[str, UUID], object]) -> None:
        super().__init__(daemon=True)
        self.act, self.result, self.error = act, None, None

    def run(self) -> None:
        try:
            self.result = self.act(*paused_candidate())
        except Exception as exc:  # reported by the test's assertions
            self.error = exc

    def __enter__(self) -> Reviewer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.join(timeout=90)


def signed(keys, who: str, action: str, cid: str, **kw) -> str:
    return sign_decision(ledger(), keys.signer(who), action, cid, **kw)


def run_retrain(**kwargs):
    return retrain(**({"stages": [], "approval_poll_s": 1} | kwargs), return_state=True)


def artifact_keys(flow_run_id: UUID) -> set[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key for a in found}


def flow_run(flow_run_id: UUID):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def resume_with(run_id: UUID, text: str) -> None:
    """What the Prefect UI's Resume form does: no check on this side; the run must check it."""
    from prefect.flow_runs import resume_flow_run

    resume_flow_run(run_id, run_input={"decision": text})
