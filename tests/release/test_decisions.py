"""Decisions through the library: a reviewer's signed document, never a name; no self-approval whatever the
OS user is called; the scheduler cannot review; waivers are a second person's decisions; one decision per
candidate; only a release manager of the signers in force changes the signers."""

from __future__ import annotations

from pathlib import Path

import pytest

from release.decisions import (
    DecisionError,
    change_signers,
    record_decision,
    record_expiry,
    sign_decision,
    verified_candidate,
    verify_decision,
)
from release.events import Action, CandidateState, Event
from release.ledger import Ledger
from tests.release.releases import FAILED, GATES, decide, make_run, register


@pytest.fixture
def run(tmp_path: Path) -> Path:
    return make_run(tmp_path, 1)


def test_a_second_person_approves(ledger: Ledger, run: Path, keys) -> None:
    cid = register(ledger, keys, run, "v1")
    assert ledger.candidate(cid).state == CandidateState.PENDING
    text = sign_decision(ledger, keys.signer("bob"), "approve", cid, comment="looks good")
    decision = verify_decision(text, ledger)
    assert (decision.action, decision.reviewer.principal, decision.comment) == (
        Action.APPROVE,
        "bob",
        "looks good",
    )
    entry = record_decision(ledger, text, signer=keys.signer("alice"))  # the waiting run delivers it
    assert (entry["event"], entry["reviewer"], entry["signer"], entry["decision"]) == (
        "approved",
        "bob",
        "alice",
        text,
    )
    summary = verified_candidate(ledger, cid)
    assert summary.state == CandidateState.APPROVED and summary.reviewer == "bob" and ledger.verify().ok


def test_self_approval_refused_whatever_the_os_user_is(
    ledger: Ledger, run: Path, keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LOGNAME", "USER", "USERNAME"):
        monkeypatch.setenv(name, "bob")  # getpass.getuser() would now say bob
    cid = register(ledger, keys, run, "v1")
    assert ledger.candidate(cid).initiator == "alice"  # the key that signed, not the environment
    with pytest.raises(DecisionError, match=r"reviewer alice registered this candidate.*self-approval"):
        sign_decision(ledger, keys.signer("alice"), "approve", cid)  # alice holds the reviewer role too
    assert ledger.candidate(cid).state == CandidateState.PENDING


@pytest.mark.parametrize(
    ("who", "why"), [("scheduler", "may not sign as echojepa-review"), ("mallory", "may not")]
)
def test_keys_without_the_reviewer_role_cannot_decide(
    ledger: Ledger, run: Path, keys, who: str, why: str
) -> None:
    cid = register(ledger, keys, run, "v1", who="scheduler")
    with pytest.raises(DecisionError, match=why):
        sign_decision(ledger, keys.signer(who), "approve", cid)
    decide(ledger, keys, cid, reviewer="carol", by="scheduler")  # a person reviews the scheduler's run
    assert ledger.candidate(cid).state == CandidateState.APPROVED


def test_reject_needs_a_reason_and_a_candidate_is_decided_once(ledger: Ledger, run: Path, keys) -> None:
    cid = register(ledger, keys, run, "v1")
    with pytest.raises(DecisionError, match="needs a reason"):
        sign_decision(ledger, keys.signer("bob"), "reject", cid)
    approval = sign_decision(ledger, keys.signer("carol"), "approve", cid)
    decide(ledger, keys, cid, "reject", reason="pediatric MAE too high")
    with pytest.raises(DecisionError, match="already rejected by bob"):
        record_decision(ledger, approval, signer=keys.signer("alice"))  # signed before, delivered too late
    with pytest.raises(DecisionError, match="already rejected"):
        record_expiry(ledger, cid, 10.0, signer=keys.signer("alice"))
    assert [e["event"] for e in ledger.candidate(cid).entries] == ["candidate", "rejected"]


def test_expiry_closes_the_candidate(ledger: Ledger, run: Path, keys) -> None:
    cid = register(ledger, keys, run, "v1")
    approval = sign_decision(ledger, keys.signer("bob"), "approve", cid)
    entry = record_expiry(ledger, cid, 86400.0, signer=keys.signer("alice"))
    assert entry["event"] == "expired" and entry["waited_s"] == 86400.0
    with pytest.raises(DecisionError, match="already expired"):
        record_decision(ledger, approval, signer=keys.signer("alice"))


def test_failed_gates_need_a_reviewers_waiver(ledger: Ledger, run: Path, keys) -> None:
    cid = register(ledger, keys, run, "v1", gates=FAILED)
    assert ledger.candidate(cid).state == CandidateState.GATES_FAILED
    with pytest.raises(DecisionError, match=r"failed gate\(s\) margin_vs_mean .*waive them first"):
        sign_decision(ledger, keys.signer("bob"), "approve", cid)
    with pytest.raises(DecisionError, match="self-approval"):  # the registrant cannot waive its own gates
        sign_decision(ledger, keys.signer("alice"), "waive", cid, gates=["margin_vs_mean"], reason="known")
    with pytest.raises(DecisionError, match="names the gates it waives and gives a reason"):
        sign_decision(ledger, keys.signer("bob"), "waive", cid, gates=["margin_vs_mean"])
    with pytest.raises(DecisionError, match="cannot waive ef_mae"):
        sign_decision(ledger, keys.signer("bob"), "waive", cid, gates=["ef_mae"], reason="passed anyway")
    waived = decide(ledger, keys, cid, "waive", gates=["margin_vs_mean"], reason="tiny preset, known gap")
    assert waived["event"] == Event.WAIVED and waived["gates"] == ["margin_vs_mean"]
    summary = ledger.candidate(cid)
    assert summary.state == CandidateState.PENDING and summary.waived_gates["margin_vs_mean"]["by"] == "bob"
    decide(ledger, keys, cid, reviewer="carol")
    assert ledger.candidate(cid).state == CandidateState.APPROVED and ledger.verify().ok


def test_a_candidate_waiting_for_a_waiver_can_be_rejected_or_expire(ledger: Ledger, run: Path, keys) -> None:
    """Its run waits for a waiver: a reviewer may end that wait by rejecting, and the window by expiring."""
    rejected = register(ledger, keys, run, "v1", gates=FAILED)
    with pytest.raises(DecisionError, match="self-approval"):
        sign_decision(ledger, keys.signer("alice"), "reject", rejected, reason="mine")
    decide(ledger, keys, rejected, "reject", reason="fails the margin gate")
    assert ledger.candidate(rejected).state == CandidateState.REJECTED
    with pytest.raises(DecisionError, match="is rejected"):
        sign_decision(ledger, keys.signer("carol"), "waive", rejected, gates=["margin_vs_mean"], reason="x")
    expired = register(ledger, keys, make_run(run.parent, 2), "v2", gates=FAILED)
    record_expiry(ledger, expired, 60.0, signer=keys.signer("alice"))
    assert ledger.candidate(expired).state == CandidateState.EXPIRED and ledger.verify().ok


def test_an_initiators_own_waiver_mark_does_not_unblock(ledger: Ledger, run: Path, keys) -> None:
    """Gate rows the initiator marked `waived` (today's --waive-gate) still block: a waiver is a decision."""
    marked = [*GATES, {**FAILED[1], "advisory": True, "waived": {"by": "alice", "reason": "trust me"}}]
    cid = register(ledger, keys, run, "v1", gates=marked)
    assert ledger.candidate(cid).failed_gates == ("margin_vs_mean",)
    advisory = [*GATES, {**FAILED[1], "advisory": True}]  # params.yaml gates.advisory: reported, not blocking
    other = register(ledger, keys, make_run(run.parent, 2), "v2", gates=advisory)
    assert ledger.candidate(other).state == CandidateState.PENDING


def test_only_a_release_manager_in_force_changes_the_signers(ledger: Ledger, run: Path, keys) -> None:
    added = keys.signers(keys.line("mallory", "echojepa-review"))
    with pytest.raises(DecisionError, match="may not write a signers-changed line"):
        change_signers(ledger, keys.signer("alice"), added)
    with pytest.raises(DecisionError, match="listed again"):  # alice's key again, under a second name
        change_signers(
            ledger,
            keys.signer("dana"),
            keys.signers(f'eve namespaces="echojepa-review" {keys.public("alice")}\n'),
        )
    with pytest.raises(DecisionError, match="keep a release manager"):
        change_signers(ledger, keys.signer("dana"), keys.line("alice") + keys.line("bob"))
    cid = register(ledger, keys, run, "v1")
    with pytest.raises(DecisionError, match="may not"):
        sign_decision(ledger, keys.signer("mallory"), "approve", cid)
    entry = change_signers(ledger, keys.signer("dana"), added)
    assert (
        entry["event"] == "signers-changed"
        and entry["previous_signers"] == entry["signers"] != entry["new_signers"]
    )
    assert (ledger.signers.root / entry["new_signers"]).read_text() == added
    decide(ledger, keys, cid, reviewer="mallory")  # listed now, by the release manager's signed change
    assert ledger.candidate(cid).state == CandidateState.APPROVED and ledger.verify().ok
    assert ledger.entries()[-1]["signers"] == entry["new_signers"]
