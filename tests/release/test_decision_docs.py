"""The signed decision document: one pasteable line; unsigned, truncated, edited, wrongly signed, wrong-role
or foreign documents are refused with one line saying why."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from release.decision_docs import PREFIX, DecisionError, check_document, parse_document
from release.decisions import sign_decision, start_ledger, verify_decision
from release.events import Role
from release.ledger import Ledger
from release.ledger_chain import canonical_json
from tests.release.releases import make_run, register


@pytest.fixture
def approval(ledger: Ledger, tmp_path: Path, keys) -> tuple[str, str]:
    cid = register(ledger, keys, make_run(tmp_path, 1), "v1")
    return cid, sign_decision(ledger, keys.signer("bob"), "approve", cid, comment="ok")


def _edit(text: str, **changes) -> str:
    prefix, body, sig = text.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    edited = base64.urlsafe_b64encode(canonical_json({**payload, **changes}).encode()).decode().rstrip("=")
    return f"{prefix}.{edited}.{sig}"


def test_one_line_that_verifies(ledger: Ledger, approval: tuple[str, str]) -> None:
    cid, text = approval
    assert text.startswith(PREFIX + ".") and "\n" not in text and len(text) < 2000
    payload, _, _ = parse_document(text)
    assert payload["candidate_id"] == cid and payload["principal"] == "bob" and payload["action"] == "approve"
    assert payload["registration"] == ledger.candidate(cid).registration_hash
    assert verify_decision(f"  {text}\n", ledger).reviewer.principal == "bob"  # pasted with whitespace


@pytest.mark.parametrize(
    ("mangle", "why"),
    [
        (lambda t: "approve", "not a signed decision"),
        (lambda t: "", "no decision given"),
        (lambda t: t[: len(t) // 2], "not a signed decision"),  # cut inside the payload when pasted
        (lambda t: t[:-12], "does not verify"),  # cut inside the signature
        (lambda t: _edit(t, comment="changed after signing"), "does not verify"),
        (lambda t: _edit(t, principal="carol"), "does not verify"),  # claims another reviewer
        (lambda t: _edit(t, action="promote"), "unknown decision action"),
        (lambda t: t.replace(PREFIX, "echojepa-decision-v0"), "not a signed decision"),
    ],
)
def test_malformed_or_edited_documents_are_refused(ledger: Ledger, approval, mangle, why: str) -> None:
    with pytest.raises(DecisionError, match=why) as info:
        verify_decision(mangle(approval[1]), ledger)
    assert "\n" not in str(info.value)


def test_wrong_role_signature_is_refused(ledger: Ledger, approval, keys) -> None:
    """A document signed in the initiator namespace (by someone who could review) is not a review."""
    _, text = approval
    prefix, body, _ = text.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = f"{prefix}.{body}.{keys.signer('bob').sign(payload, Role.INITIATOR)}"
    with pytest.raises(DecisionError, match="namespace"):
        verify_decision(forged, ledger)


def test_a_document_for_another_ledger_is_refused(approval, tmp_path: Path, keys) -> None:
    other = Ledger(tmp_path / "other" / "ledger.jsonl")
    start_ledger(other, keys.signer("dana"), keys.signers())
    with pytest.raises(DecisionError, match="another ledger"):
        verify_decision(approval[1], other)
    replayed = other.verified_replay()
    assert (
        check_document(approval[1], replayed.pinned).reviewer.principal == "bob"
    )  # the signature itself is fine
