"""A reviewer's decision as a signed, one-line document that can travel anywhere (a terminal, the Prefect
UI's form, a chat message) and be checked wherever it lands.

    echojepa-decision-v1.<base64url of the canonical JSON payload>.<base64 SSH signature>

The payload names the action (approve, reject, waive, rollback), the ledger (its genesis hash), the exact
registration it decides (the hash of the candidate's `candidate` line) or, for a rollback, the exact
production line it rolls back from, the reviewer's principal, and the comment / reason / waived gates.
It is signed in the `echojepa-review` namespace, so only a key holding the reviewer role in the allowed
signers can make one, and binding it to one line of one ledger means it cannot be replayed for another
candidate, another ledger, or a later production state.

`release.decisions.sign_decision` makes one (`echojepa release sign ID --approve|--reject` prints it);
`release.decisions.verify_decision` checks one against the ledger. This module holds the format only.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field

from release.events import Action, Role
from release.ledger_chain import canonical_json, utc_now
from release.signing import AllowedSigners, SignatureError, Signer, Verified

PREFIX = "echojepa-decision-v1"
MAX_LENGTH = 16_384  # a form field; comments are short


class DecisionError(ValueError):
    """A release rule refused the request (one line)."""


@dataclass(frozen=True)
class VerifiedDecision:
    """A decision whose signature verified: what it asks, bound to what, and who (proven) signed it."""

    action: Action
    ledger: str  # genesis hash of the ledger it is for
    reviewer: Verified
    candidate_id: str = ""
    model_version: str = ""
    registration: str = ""  # hash of the candidate line (approve, reject, waive)
    production: str = ""  # hash of the production line rolled back from (rollback)
    comment: str = ""
    reason: str = ""
    gates: tuple[str, ...] = field(default=())
    time: str = ""
    text: str = ""


def make_document(signer: Signer, signers: AllowedSigners, payload: dict) -> str:
    """Sign `payload` (principal added from the key's verified identity) as a decision document."""
    principal = signer.identify(signers, Role.REVIEWER).principal
    body = canonical_json({**payload, "principal": principal, "time": utc_now()}).encode("utf-8")
    signature = signer.sign(body, Role.REVIEWER)
    return f"{PREFIX}.{base64.urlsafe_b64encode(body).decode('ascii').rstrip('=')}.{signature}"


def parse_document(text: str) -> tuple[dict, bytes, str]:
    """(payload, signed bytes, signature) of a document; DecisionError saying what is malformed."""
    text = (text or "").strip()
    if not text:
        raise DecisionError("no decision given: paste the line `echojepa release sign` printed")
    if len(text) > MAX_LENGTH:
        raise DecisionError(f"decision document longer than {MAX_LENGTH} characters")
    parts = text.split(".")
    if len(parts) != 3 or parts[0] != PREFIX:
        raise DecisionError(
            f"not a signed decision (expected {PREFIX}.<payload>.<signature>, the line "
            "`echojepa release sign` prints); unsigned decisions are refused"
        )
    try:
        body = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        payload = json.loads(body.decode("utf-8"))
    except (binascii.Error, ValueError):
        raise DecisionError("decision payload is not base64 JSON (truncated when pasted?)") from None
    if not isinstance(payload, dict) or canonical_json(payload).encode("utf-8") != body:
        raise DecisionError("decision payload is not a canonical JSON object")
    return payload, body, parts[2]


def check_document(text: str, signers: AllowedSigners) -> VerifiedDecision:
    """Verify a document's signature against `signers` (reviewer role); its binding is the caller's.

    Raises:
        DecisionError: malformed, unknown action, or a signature that does not verify as a reviewer.
    """
    payload, body, signature = parse_document(text)
    try:
        action = Action(payload.get("action"))
    except ValueError:
        raise DecisionError(f"unknown decision action {payload.get('action')!r}") from None
    principal = str(payload.get("principal") or "")
    try:
        reviewer = signers.verify(body, signature, Role.REVIEWER, principal)
    except SignatureError as exc:
        raise DecisionError(f"decision refused: {exc}") from None
    gates = payload.get("gates") or []
    if not isinstance(gates, list) or not all(isinstance(g, str) for g in gates):
        raise DecisionError("decision `gates` must be a list of gate names")
    return VerifiedDecision(
        action=action,
        ledger=str(payload.get("ledger") or ""),
        reviewer=reviewer,
        candidate_id=str(payload.get("candidate_id") or ""),
        model_version=str(payload.get("model_version") or ""),
        registration=str(payload.get("registration") or ""),
        production=str(payload.get("production") or ""),
        comment=str(payload.get("comment") or ""),
        reason=str(payload.get("reason") or ""),
        gates=tuple(gates),
        time=str(payload.get("time") or ""),
        text=text.strip(),
    )
