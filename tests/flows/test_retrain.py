"""The retrain flow against a real Prefect API (prefect_test_harness): approval, rejection, expiry, refused
decisions, failed gates, the suspended deployment path, and prefect.yaml's schedule and drift trigger.

No pipeline stage runs here (`stages=[]`); the workspace fixture holds the files later steps read. A
reviewer thread does what `echojepa release approve|reject` does, while the flow waits in the main thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import bentoml
import pandas as pd
import pytest

from flows.approval import Decision, find_waiting_run, submit_decision
from flows.retrain import retrain
from release.decisions import DecisionError
from release.ledger import Ledger
from release.package import expected_heads
from tests.flows.conftest import GATES_PASSING, ROOT, write_evaluation

pytestmark = pytest.mark.usefixtures("prefect_api")
ALLOW = ("bob", "carol")


def wait_for(condition: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    """Poll `condition` until it returns something truthy (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def paused_candidate() -> tuple[str, UUID]:
    """The pending candidate of the ledger and the flow run paused for it (waits for both)."""

    def found():
        pending = (
            [c for c in Ledger().candidates() if c["state"] == "pending"] if Path("registry").exists() else []
        )
        run = find_waiting_run(pending[-1]["candidate_id"], settle_s=0) if pending else None
        return (pending[-1]["candidate_id"], run) if run else None

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


def decide(approve: bool, reviewer: str, reason: str = "") -> Callable[[str, UUID], str]:
    return lambda cid, _run: submit_decision(
        Ledger(),
        cid,
        approve=approve,
        reviewer=reviewer,
        reason=reason,
        comment="looks good",
        allow_list=ALLOW,
    )


def run_retrain(**kwargs):
    params = {"stages": [], "initiator": "alice", "approval_poll_s": 1} | kwargs
    return retrain(**params, return_state=True)


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


def test_approved_candidate_is_packaged_and_becomes_production(workspace: Path) -> None:
    with Reviewer(decide(True, "bob")) as bob:
        state = run_retrain()
    assert bob.error is None and "resumed flow run" in bob.result
    assert state.is_completed(), state.message
    result = state.result()
    ledger = Ledger()
    candidate = ledger.candidate(result["candidate_id"])
    assert candidate["state"] == "production" and candidate["initiator"] == "alice"
    assert ledger.production() == candidate["model_version"]
    assert result["tag"].startswith("echojepa:") and result["approved_by"] == "bob"
    assert ledger.verify(expected_heads=expected_heads()).ok
    decisions = [e for e in ledger.entries() if e["event"] in ("approved", "rejected", "expired")]
    assert len(decisions) == 1 and decisions[0]["reviewer"] == "bob"

    run = flow_run(state.state_details.flow_run_id)
    assert {f"candidate:{result['candidate_id']}", "initiator:alice"} <= set(run.tags)
    keys = artifact_keys(run.id)
    assert {
        "retrain-data",
        "retrain-gates",
        "retrain-candidate",
        "retrain-decision",
        "retrain-release",
    } <= keys
    reference = pd.read_parquet(bentoml.models.get(result["tag"]).path_of("reference.parquet"))
    assert list(reference.FileName) == ["0X0004", "0X0005"]  # the held-out TEST split
    assert {"brightness", "contrast", "ef", "embedding"} <= set(reference.columns)
    assert reference.ef.tolist() == [52.0, 52.0] and len(reference.embedding[0]) == 4

    # deciding twice is refused with one line, and nothing more is written
    written = len(ledger.entries())
    with pytest.raises(DecisionError, match="already production"):
        submit_decision(ledger, result["candidate_id"], approve=False, reviewer="carol", reason="late")
    assert len(ledger.entries()) == written


def test_rejected_candidate_ends_the_run_rejected_and_releases_nothing(workspace: Path) -> None:
    with Reviewer(decide(False, "carol", reason="EF bias in pediatric studies")) as carol:
        state = run_retrain()
    assert carol.error is None
    assert state.is_completed() and state.name == "Rejected"
    assert "rejected by carol" in state.message
    (candidate,) = Ledger().candidates()
    assert (
        candidate["state"] == "rejected" and candidate["decision"]["reason"] == "EF bias in pediatric studies"
    )
    assert Ledger().production() is None and expected_heads() == []


def test_no_decision_in_time_expires_the_candidate(workspace: Path) -> None:
    start = time.monotonic()
    state = run_retrain(approval_timeout_hours=2 / 3600)
    assert time.monotonic() - start < 30
    assert state.is_failed() and "never resumed" in state.message  # Prefect's verdict on a timed-out pause
    (candidate,) = Ledger().candidates()
    assert candidate["state"] == "expired"
    with pytest.raises(DecisionError, match="already expired"):
        submit_decision(Ledger(), candidate["candidate_id"], approve=True, reviewer="bob")
    assert Ledger().production() is None


def test_refused_reviewers_leave_the_run_waiting_until_a_valid_one_decides(workspace: Path) -> None:
    from prefect.flow_runs import resume_flow_run

    def review(cid: str, run_id: UUID) -> list[str]:
        refusals = []
        for who in ("alice", "mallory"):  # the initiator, then someone off the allow-list
            try:
                submit_decision(Ledger(), cid, approve=True, reviewer=who, allow_list=ALLOW)
            except DecisionError as exc:
                refusals.append(str(exc))
        assert flow_run(run_id).state.is_paused()
        # the UI form bypasses the CLI's check: the flow refuses it itself and waits again
        resume_flow_run(run_id, run_input={"approve": True, "reviewer": "alice"})
        wait_for(
            lambda: flow_run(run_id).state.is_paused() and len(Ledger().entries()) == 1, what="a new pause"
        )
        submit_decision(Ledger(), cid, approve=True, reviewer="carol", allow_list=ALLOW)
        return refusals

    with Reviewer(review) as reviewer:
        state = run_retrain()
    assert reviewer.error is None, reviewer.error
    self_approval, not_allowed = reviewer.result
    assert "self-approval is not allowed" in self_approval and "\n" not in self_approval
    assert "not on the allow-list" in not_allowed
    assert state.is_completed() and state.result()["approved_by"] == "carol"
    decisions = [e for e in Ledger().entries() if e["event"] in ("approved", "rejected")]
    assert [d["reviewer"] for d in decisions] == ["carol"]


def test_failed_gates_fail_the_run_naming_every_gate_and_package_nothing(workspace: Path) -> None:
    gates = [
        {"name": "ef_mae", "value": 11.5, "threshold": 8.0, "passed": False},
        {"name": "ef_mae_margin_over_random_init", "value": 0.01, "threshold": 0.05, "passed": False},
        GATES_PASSING[2],
    ]
    write_evaluation(workspace, gates, ef_mae=11.5)
    state = run_retrain()
    assert state.is_failed()
    assert (
        "ef_mae: 11.5 > 8" in state.message and "ef_mae_margin_over_random_init: 0.01 < 0.05" in state.message
    )
    assert "view_accuracy" not in state.message
    (candidate,) = Ledger().candidates()
    assert candidate["state"] == "gates_failed" and candidate["failed_gates"] == [
        "ef_mae",
        "ef_mae_margin_over_random_init",
    ]
    assert "retrain-release" not in artifact_keys(state.state_details.flow_run_id)
    assert Ledger().production() is None and expected_heads() == []


def test_deployment_run_suspends_and_resumes_from_persisted_results(workspace: Path) -> None:
    """A deployment run suspends (its process ends); after resume it runs again, reuses its finished
    tasks' results and packages; exactly what a served deployment does, executed in-process here."""
    from prefect import get_client
    from prefect.exceptions import Pause
    from prefect.flow_engine import run_flow
    from prefect.flow_runs import resume_flow_run

    deployment_id = retrain.to_deployment(name="suspend-test").apply()
    with get_client(sync_client=True) as client:
        created = client.create_flow_run_from_deployment(
            deployment_id, parameters={"stages": [], "initiator": "scheduler", "approval_poll_s": 1}
        )
    with pytest.raises(Pause):  # the engine's signal that ends a suspending process
        run_flow(retrain, flow_run=flow_run(created.id), return_type="state")
    assert flow_run(created.id).state.name == "Suspended"
    cid, run_id = paused_candidate()
    assert run_id == created.id
    registered = len(Ledger().entries())
    resume_flow_run(run_id, run_input=Decision(approve=True, reviewer="bob").model_dump(exclude={"metadata"}))
    state = run_flow(retrain, flow_run=flow_run(created.id), return_type="state")
    assert state.is_completed(), state.message
    assert state.result()["candidate_id"] == cid  # the replay registered no second candidate
    assert Ledger().candidates()[0]["initiator"] == "scheduler"
    assert [e["event"] for e in Ledger().entries()[registered:]] == ["approved", "packaged", "promoted"]


def test_prefect_yaml_deployments_schedule_and_drift_trigger_with_cooldown(monkeypatch) -> None:
    """prefect.yaml as `orchestrator up` builds it: the weekly schedule, concurrency 1, and a drift event
    that creates one retrain run; a second event inside the 24 h cooldown creates none."""
    from prefect import flow, get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.events import DeploymentEventTrigger, emit_event

    from flows.orchestrator import deployments_from_yaml

    monkeypatch.chdir(ROOT)
    built = {d.name: d for d in deployments_from_yaml(ROOT / "prefect.yaml")}
    retrain_id = built["retrain"].apply()

    @flow(name="drift-sentinel")
    def sentinel() -> None:
        """Fires on every drift event (no cooldown): once it has run twice, both events were evaluated."""

    sentinel_id = sentinel.to_deployment(
        name="sentinel", triggers=[DeploymentEventTrigger(expect={"echojepa.drift.detected"})]
    ).apply()

    def runs(deployment_id: UUID) -> list:
        with get_client(sync_client=True) as client:
            return client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
            )

    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(retrain_id)
    assert [s.schedule.cron for s in deployment.schedules] == ["0 3 * * 1"]
    assert deployment.global_concurrency_limit.limit == 1
    assert "initiator" not in deployment.parameters  # a person's manual run must not pass as `scheduler`
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name("retrain on drift (24 h cooldown)")
    assert automation.trigger.within == timedelta(hours=24) and automation.trigger.threshold == 1

    drift = {"drifted": ["brightness"], "causes": ["gain_drift"], "window": "2025-01-06"}
    resource = {"prefect.resource.id": "echojepa.model.v1"}
    emit_event("echojepa.drift.detected", resource=resource, payload=drift)
    (first,) = wait_for(lambda: runs(retrain_id), what="a retrain run from the drift event")
    assert first.parameters["initiator"] == "scheduler"
    wait_for(lambda: len(runs(sentinel_id)) == 1, what="the sentinel's first run")

    emit_event("echojepa.drift.detected", resource=resource, payload=drift)
    wait_for(lambda: len(runs(sentinel_id)) == 2, what="the sentinel's second run")
    assert len(runs(retrain_id)) == 1  # inside the cooldown: no second retrain
