"""The retrain flow against a real Prefect API (prefect_test_harness) and real SSH signatures: who registers
(the key, whatever LOGNAME says), a second principal's signed approval, refused decisions, waivers of failed
gates, rejection, expiry, a forged ledger line and a tampered frozen file while the run waits, and the
suspended deployment path.

No pipeline stage runs here (`stages=[]`); the workspace fixture holds the files later steps read. A
reviewer thread does what a reviewer does (`release sign`, then `release approve|submit`), while the flow
waits in the main thread.
"""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path
from uuid import UUID

import bentoml
import pytest

from flows.approval import submit_decision
from flows.retrain import retrain
from release.decision_docs import make_document
from release.decisions import DecisionError
from release.events import CandidateState
from release.ledger import sha256_file
from release.package import expected_heads
from tests.flows.conftest import GATES_PASSING, ROOT, RUN, write_evaluation
from tests.flows.reviewing import (
    Reviewer,
    artifact_keys,
    flow_run,
    ledger,
    paused_candidate,
    resume_with,
    run_retrain,
    signed,
    wait_for,
)
from tests.release.releases import forge

pytestmark = pytest.mark.usefixtures("prefect_api")
FAILING = [
    {"name": "ef_mae", "value": 11.5, "threshold": 8.0, "passed": False},
    {"name": "ef_mae_margin_over_random_init", "value": 0.01, "threshold": 0.05, "passed": False},
    GATES_PASSING[2],
]


def test_a_second_principal_approves_whoever_the_os_user_claims_to_be(
    workspace: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGNAME", "bob")  # getpass.getuser() would say bob: the key says alice
    monkeypatch.setenv("USER", "bob")
    run_probe = workspace / RUN / "probes" / "ef" / "seed-0.pt"

    def review(cid: str, run_id: UUID) -> list[str]:
        refusals = []
        try:  # alice (who registered) signs her own approval: refused before anything leaves her terminal
            signed(keys, "alice", "approve", cid)
        except DecisionError as exc:
            refusals.append(str(exc))
        replay = ledger().verified_replay()  # ... made by hand anyway and pasted into the UI form
        payload = {"action": "approve", "ledger": replay.genesis, "candidate_id": cid,
                   "registration": replay.candidates[cid].registration["hash"]}  # fmt: skip
        lines = len(ledger().entries())
        resume_with(run_id, make_document(keys.signer("alice"), replay.pinned, payload))
        wait_for(lambda: flow_run(run_id).state.is_paused() and flow_run(run_id).state.state_details.pause_key
                 == "decision-2", what="the run waiting again")  # fmt: skip
        assert len(ledger().entries()) == lines  # the run refused it: nothing written
        resume_with(run_id, "approve, signed bob")  # unsigned: refused, waits again
        wait_for(lambda: flow_run(run_id).state.state_details.pause_key == "decision-3", what="a third wait")
        run_probe.write_bytes(b"a probe refitted during the review")  # not what is registered, nor shipped
        refusals.append(submit_decision(ledger(), signed(keys, "bob", "approve", cid, comment="looks good")))
        return refusals

    with Reviewer(review) as bob:
        state = run_retrain()
    assert bob.error is None, bob.error
    self_approval, delivered = bob.result
    assert "self-approval is not allowed" in self_approval and "\n" not in self_approval
    assert "approve by bob: resumed flow run" in delivered
    assert state.is_completed(), state.message
    result = state.result()
    book = ledger()
    candidate = book.candidate(result["candidate_id"])
    assert (candidate.state, candidate.initiator, candidate.reviewer) == ("production", "alice", "bob")
    assert result["tag"].startswith("echojepa:") and result["approved_by"] == "bob"
    assert book.production() == candidate.model_version and book.verify().ok
    decisions = [e for e in book.entries() if e["event"] in ("approved", "rejected", "expired")]
    assert len(decisions) == 1 and (decisions[0]["reviewer"], decisions[0]["signer"]) == ("bob", "alice")

    run = flow_run(state.state_details.flow_run_id)
    assert {f"candidate:{result['candidate_id']}", "initiator:alice"} <= set(run.tags)
    keys_seen = artifact_keys(run.id)
    assert {
        "retrain-data",
        "retrain-gates",
        "retrain-candidate",
        "retrain-decision",
        "retrain-release",
    } <= keys_seen
    model = bentoml.models.get(result["tag"])
    assert set(candidate.manifest) == {
        "encoder.pt", "target_encoder.pt", "config.yaml", "probes/ef/seed-0.pt", "probes/view/seed-0.pt",
        "evaluation.json", "reference.parquet", "model_card.html",
    }  # fmt: skip
    served = sha256_file(Path(model.path_of("probes/ef/seed-0.pt")))
    assert served == candidate.manifest["probes/ef/seed-0.pt"] != sha256_file(run_probe)  # the reviewed bytes
    with pytest.raises(
        DecisionError, match="already production"
    ):  # deciding twice: one line, nothing written
        signed(keys, "carol", "reject", result["candidate_id"], reason="late")


def test_failed_gates_wait_for_a_reviewers_waiver_before_an_approval(workspace: Path, keys) -> None:
    write_evaluation(workspace, FAILING, ef_mae=11.5)

    def review(cid: str, run_id: UUID) -> list[str]:
        refusals = []
        for who, action, kw in (
            ("bob", "approve", {}),
            ("alice", "waive", {"gates": ["ef_mae"], "reason": "x"}),
        ):
            try:
                signed(keys, who, action, cid, **kw)
            except DecisionError as exc:
                refusals.append(str(exc))
        gates = ["ef_mae", "ef_mae_margin_over_random_init"]
        submit_decision(ledger(), signed(keys, "bob", "waive", cid, gates=gates, reason="tiny preset"))
        paused_candidate((CandidateState.PENDING,))  # the waiver is recorded; the run waits for the approval
        submit_decision(ledger(), signed(keys, "carol", "approve", cid))
        return refusals

    with Reviewer(review) as reviewers:
        state = run_retrain()
    assert reviewers.error is None, reviewers.error
    blocked, own_waiver = reviewers.result
    assert "failed gate(s) ef_mae, ef_mae_margin_over_random_init at registration" in blocked
    assert "self-approval" in own_waiver
    assert state.is_completed() and state.result()["approved_by"] == "carol"
    (candidate,) = ledger().candidates()
    assert {g: w["by"] for g, w in candidate.waived_gates.items()} == {
        "ef_mae": "bob", "ef_mae_margin_over_random_init": "bob"}  # fmt: skip
    assert [e["event"] for e in candidate.entries] == [
        "candidate", "gates_failed", "waived", "approved", "packaged", "promoted"]  # fmt: skip


def test_a_rejection_ends_the_run_rejected_and_releases_nothing(workspace: Path, keys) -> None:
    write_evaluation(workspace, FAILING, ef_mae=11.5)  # a failed candidate can be rejected without waivers
    reason = "EF bias in pediatric studies"
    with Reviewer(
        lambda cid, _: submit_decision(ledger(), signed(keys, "carol", "reject", cid, reason=reason))
    ):
        state = run_retrain()
    assert state.is_completed() and state.name == "Rejected" and "rejected by carol" in state.message
    (candidate,) = ledger().candidates()
    assert candidate.state == "rejected" and candidate.decision["reason"] == reason
    assert ledger().production() is None and expected_heads() == []


def test_no_decision_in_time_expires_the_candidate(workspace: Path, keys) -> None:
    start = time.monotonic()
    state = run_retrain(approval_timeout_hours=2 / 3600)
    assert time.monotonic() - start < 30
    assert state.is_failed() and "never resumed" in state.message  # Prefect's verdict on a timed-out pause
    (candidate,) = ledger().candidates()
    assert candidate.state == "expired" and candidate.decision["signer"] == "alice"
    with pytest.raises(DecisionError, match="already expired"):
        signed(keys, "bob", "approve", candidate.candidate_id)
    assert ledger().production() is None


def test_a_hand_appended_approval_never_packages(workspace: Path, keys) -> None:
    """alice holds a valid initiator key: she appends a well-formed, chained, signed `approved` line while
    her run waits. The run verifies the ledger before acting and ends without packaging; verify names the
    line. A genuine approval cannot get past it either: nothing appends to a ledger that does not verify."""

    def forge_then_approve(cid: str, run_id: UUID) -> int:
        line = forge(ledger(), keys, "alice", "echojepa-initiator", "approved", candidate_id=cid,
                     model_version=ledger().candidate(cid).model_version, reviewer="bob")  # fmt: skip
        assert ledger().candidate(cid).state == "approved"  # an unverified listing is fooled
        resume_with(run_id, "x")  # the UI form: the run wakes, finds the ledger broken
        return line

    with Reviewer(forge_then_approve) as alice:
        state = run_retrain()
    assert alice.error is None, alice.error
    assert state.is_failed() and f"line {alice.result}" in state.message and "not packaged" in state.message
    result = ledger().verify()
    assert (result.ok, result.line) == (
        False,
        alice.result,
    ) and "no reviewer-signed decision" in result.reason
    assert expected_heads() == [] and ledger().production() is None


def test_a_frozen_file_changed_before_packaging_is_refused_by_name(workspace: Path, keys) -> None:
    def tamper_then_approve(cid: str, _run: UUID) -> str:
        frozen = workspace / "registry" / "candidates" / cid / "probes" / "view" / "seed-0.pt"
        frozen.write_bytes(b"a view probe nobody reviewed")
        return submit_decision(ledger(), signed(keys, "bob", "approve", cid))

    with Reviewer(tamper_then_approve) as bob:
        state = run_retrain()
    assert bob.error is None, bob.error
    assert state.is_failed()
    assert "refusing to package" in state.message and "probes/view/seed-0.pt differs" in state.message
    (candidate,) = ledger().candidates()
    assert candidate.state == "approved" and expected_heads() == [] and ledger().verify().ok


def test_deployment_run_registers_with_the_hosts_key_suspends_and_resumes(workspace: Path, keys) -> None:
    """A deployment run on the host whose key is `scheduler`: no parameter can change who registers (a
    run asking for `initiator=bob` fails before any step; so does one pointing `params` at another file,
    whose release settings would sign with a reviewer's key); it suspends (its process ends), and after a
    signed approval is resumed runs again, reuses its finished tasks' results and packages."""
    from prefect import get_client
    from prefect.exceptions import Pause, SignatureMismatchError
    from prefect.flow_engine import run_flow

    from tests.flows.conftest import write_params

    write_params(workspace, keys.path("scheduler"))
    deployment_id = retrain.to_deployment(name="suspend-test").apply()
    parameters = {"stages": [], "approval_poll_s": 1}
    (workspace / "elsewhere").mkdir()
    lax = write_params(workspace / "elsewhere", keys.path("bob"))  # would sign with a reviewer's key
    with get_client(sync_client=True) as client:  # the UI's custom run with initiator=bob
        named = client.create_flow_run_from_deployment(
            deployment_id, parameters={**parameters, "initiator": "bob"}
        )
        elsewhere = client.create_flow_run_from_deployment(
            deployment_id, parameters={**parameters, "params": str(lax)}
        )
        created = client.create_flow_run_from_deployment(deployment_id, parameters=parameters)
    with pytest.raises(SignatureMismatchError, match="initiator"):  # the engine refuses to start it
        run_flow(retrain, flow_run=flow_run(named.id), return_type="state")
    assert flow_run(named.id).state.is_scheduled() and ledger().candidates() == []  # it never ran
    state = run_flow(retrain, flow_run=flow_run(elsewhere.id), return_type="state")
    assert state.is_failed() and "a deployment run reads params.yaml" in state.message, state.message
    assert ledger().candidates() == []
    with pytest.raises(Pause):  # the engine's signal that ends a suspending process
        run_flow(retrain, flow_run=flow_run(created.id), return_type="state")
    assert flow_run(created.id).state.name == "Suspended"
    cid, run_id = paused_candidate()
    assert run_id == created.id and ledger().candidate(cid).initiator == "scheduler"
    registered = len(ledger().entries())
    assert "resumed flow run" in submit_decision(ledger(), signed(keys, "alice", "approve", cid))
    state = run_flow(retrain, flow_run=flow_run(created.id), return_type="state")
    assert state.is_completed(), state.message
    assert state.result()["candidate_id"] == cid  # the replay registered no second candidate
    assert [e["event"] for e in ledger().entries()[registered:]] == ["approved", "packaged", "promoted"]
    assert ledger().candidate(cid).reviewer == "alice" and ledger().verify().ok


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
    assert set(deployment.parameters) == {"preset"}  # no parameter names a person or a key
    with get_client(sync_client=True) as client:
        (automation,) = client.read_automations_by_name("retrain on drift (24 h cooldown)")
    assert automation.trigger.within == timedelta(hours=24) and automation.trigger.threshold == 1

    drift = {"drifted": ["brightness"], "causes": ["gain_drift"], "window": "2025-01-06"}
    resource = {"prefect.resource.id": "echojepa.model.v1"}
    emit_event("echojepa.drift.detected", resource=resource, payload=drift)
    (first,) = wait_for(lambda: runs(retrain_id), what="a retrain run from the drift event")
    assert first.parameters == {"preset": "tiny"}  # who registers is the serving host's key
    wait_for(lambda: len(runs(sentinel_id)) == 1, what="the sentinel's first run")

    emit_event("echojepa.drift.detected", resource=resource, payload=drift)
    wait_for(lambda: len(runs(sentinel_id)) == 2, what="the sentinel's second run")
    assert len(runs(retrain_id)) == 1  # inside the cooldown: no second retrain
