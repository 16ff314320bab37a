"""Lines written by hand, as an adversary with a valid initiator key would: well-formed, correctly chained and
signed, yet `verify` names each of them, and the check a waiting flow calls refuses to act on them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from release.decision_docs import make_document
from release.decisions import DecisionError, sign_decision, verified_candidate
from release.events import LINE_ROLES, Event, Role
from release.ledger import Ledger
from release.ledger_chain import canonical_json, entry_hash, signed_bytes
from release.signing import AllowedSigners
from tests.release.releases import FAILED, decide, forge, make_run, register


@pytest.fixture
def pending(ledger: Ledger, tmp_path: Path, keys) -> str:
    return register(ledger, keys, make_run(tmp_path, 1), "v1")


def _refused(ledger: Ledger, cid: str, line: int, why: str) -> None:
    result = ledger.verify()
    assert (result.ok, result.line) == (False, line) and why in result.reason, result
    with pytest.raises(DecisionError, match=f"line {line}"):
        verified_candidate(ledger, cid)  # what the waiting flow calls before it packages


def test_an_approved_line_without_a_reviewers_document(ledger: Ledger, pending: str, keys) -> None:
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "approved",
        candidate_id=pending,
        model_version="v1",
        reviewer="bob",
    )
    assert ledger.candidate(pending).state == "approved"  # an unverified listing is fooled ...
    _refused(ledger, pending, line, "carries no reviewer-signed decision")  # ... verification is not


def test_an_approved_line_with_the_registrants_own_document(ledger: Ledger, pending: str, keys) -> None:
    replay = ledger.verified_replay()
    payload = {
        "action": "approve",
        "ledger": replay.genesis,
        "candidate_id": pending,
        "model_version": "v1",
        "registration": replay.candidates[pending].registration["hash"],
    }
    text = make_document(keys.signer("alice"), replay.pinned, payload)  # alice holds the reviewer role
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "approved",
        candidate_id=pending,
        model_version="v1",
        reviewer="alice",
        decision=text,
    )
    _refused(ledger, pending, line, "self-approval")


def test_a_real_approval_replayed_onto_another_candidate(
    ledger: Ledger, pending: str, tmp_path: Path, keys
) -> None:
    other = register(ledger, keys, make_run(tmp_path, 2), "v2")
    text = sign_decision(ledger, keys.signer("bob"), "approve", other)
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "approved",
        candidate_id=pending,
        model_version="v1",
        reviewer="bob",
        decision=text,
    )
    _refused(ledger, pending, line, f"carries a decision on {other}")


def test_an_initiator_who_adds_its_own_reviewer_key(ledger: Ledger, pending: str, keys) -> None:
    """alice adds a second key (mallory's) with the reviewer role to the signers file and approves with it."""
    edited = keys.signers(keys.line("mallory", "echojepa-review"))
    with pytest.raises(DecisionError, match="may not"):  # the signers in force do not know that key
        sign_decision(ledger, keys.signer("mallory"), "approve", pending)
    version = ledger.signers.put(edited)  # she can write the store: it is content-addressed, not trusted
    replay = ledger.verified_replay()
    payload = {
        "action": "approve",
        "ledger": replay.genesis,
        "candidate_id": pending,
        "model_version": "v1",
        "registration": replay.candidates[pending].registration["hash"],
    }
    text = make_document(keys.signer("mallory"), AllowedSigners(edited), payload)
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "approved",
        signers=version.sha256,
        candidate_id=pending,
        model_version="v1",
        reviewer="mallory",
        decision=text,
    )
    _refused(ledger, pending, line, "without a release-manager-signed signers-changed entry")


def test_a_signers_change_signed_by_a_non_release_manager(ledger: Ledger, pending: str, keys) -> None:
    """alice signs in the release-manager namespace; the signers in force do not give her that role."""
    version = ledger.signers.put(keys.signers(keys.line("mallory", "echojepa-review")))
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-release-manager",
        "signers-changed",
        new_signers=version.sha256,
        previous_signers=ledger.entries()[-1]["signers"],
    )
    _refused(ledger, pending, line, "signature of alice as echojepa-release-manager does not verify")


def test_a_line_signed_in_a_role_that_may_not_write_it(ledger: Ledger, pending: str, keys) -> None:
    line = forge(
        ledger,
        keys,
        "carol",
        "echojepa-review",
        "candidate",
        candidate_id="cand-feedf00d",
        model_version="v9",
    )
    _refused(ledger, pending, line, "a candidate line may not be signed as echojepa-review")


def test_a_registration_rewritten_as_anothers(ledger: Ledger, pending: str, keys) -> None:
    """bob re-signs alice's approved registration as his own and re-chains the approval with his key: the
    witness names the rewritten line; without a witness, the approval is bound to the old registration."""
    decide(ledger, keys, pending, reviewer="bob")
    lines = ledger.path.read_text().splitlines()
    rewritten = []
    for raw in lines[1:]:
        entry = json.loads(raw)
        entry["signer"], entry["prev"] = "bob", json.loads(rewritten[-1] if rewritten else lines[0])["hash"]
        entry["sig"] = keys.signer("bob").sign(signed_bytes(entry), Role.INITIATOR)
        entry["hash"] = entry_hash(entry)
        rewritten.append(canonical_json(entry))
    ledger.path.write_text("\n".join([lines[0], *rewritten]) + "\n")
    result = ledger.verify()
    assert (result.ok, result.line) == (False, 2) and "rewritten" in result.reason
    unwitnessed = Ledger(ledger.path).verify()
    assert (unwitnessed.ok, unwitnessed.line) == (False, 3) and "another registration" in unwitnessed.reason


def test_every_event_has_signing_roles() -> None:
    assert set(LINE_ROLES) == set(Event)
    assert all(roles and all(isinstance(r, Role) for r in roles) for roles in LINE_ROLES.values())
    assert Role.REVIEWER not in LINE_ROLES[Event.CANDIDATE] and LINE_ROLES[Event.SIGNERS_CHANGED] == (
        Role.RELEASE_MANAGER,
    )


def test_a_delivered_waiver_cannot_be_widened(ledger: Ledger, tmp_path: Path, keys) -> None:
    """bob waives one failed gate; the run that delivers his document writes two into the line."""
    two_failed = [*FAILED, {"name": "view_accuracy", "value": 0.3, "threshold": 0.5, "passed": False}]
    cid = register(ledger, keys, make_run(tmp_path, 1), "v1", gates=two_failed)
    text = sign_decision(
        ledger, keys.signer("bob"), "waive", cid, gates=["margin_vs_mean"], reason="known gap"
    )
    line = forge(
        ledger,
        keys,
        "alice",
        "echojepa-initiator",
        "waived",
        candidate_id=cid,
        model_version="v1",
        reviewer="bob",
        reason="known gap",
        comment="",
        gates=["margin_vs_mean", "view_accuracy"],
        decision=text,
    )
    _refused(
        ledger,
        cid,
        line,
        "the line's gates ['margin_vs_mean', 'view_accuracy'] is not what the reviewer signed",
    )
