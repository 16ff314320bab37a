"""Replaying the ledger: who may sign each line, what each event requires, and the state it leaves.

One replay serves both readers. `strict=True` (verification) checks, line by line, with the allowed
signers in force at that line: the line's signature and role; that the signers hash only changes through
a `signers-changed` line signed by a release manager of the previous version; and, for decision lines,
the reviewer's signed document (bound to this ledger and this registration, signed by a reviewer who is
not the registrant: compared by principal and by key). `strict=False` (listings) applies the same state
changes without checking, so a damaged ledger can still be shown.

Each invariant is the failure it catches: a hand-written `approved` line (no valid reviewer document), a
self-approval under a second name (same key), a reviewer key added to the signers file by the initiator
(signers hash changed without `signers-changed`), a waiver or rollback without a second person.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from release.decision_docs import DecisionError, VerifiedDecision, check_document, parse_document
from release.duties import WAITING, check_decision
from release.events import ACTION_EVENT, DECISION_EVENTS, LINE_ROLES, CandidateState, Event, Role
from release.ledger_chain import signed_bytes
from release.signing import AllowedSigners, SignatureError, SignersStore, Verified


class RuleError(ValueError):
    """A line breaks a release rule (one line)."""


def blocking_failures(gates: list[dict]) -> list[str]:
    """Gates that failed and block (evaluation.gates.GateResult.blocks). A `waived` mark written by the
    initiator into the gate rows does not unblock here: a waiver is a reviewer's signed decision (a
    `waived` line), so such a row counts as blocking until one is recorded."""
    from evaluation.gates import rows

    return [g.name for g in rows(gates or []) if g.blocks or (not g.passed and g.waived is not None)]


@dataclass
class CandidateRecord:
    """A candidate while the ledger is replayed."""

    registration: dict
    registrant: Verified | None
    state: CandidateState
    failed: list[str]
    waived: dict[str, dict] = field(default_factory=dict)
    decision: dict | None = None
    packaged: dict | None = None
    entries: list[dict] = field(default_factory=list)

    @property
    def open_failures(self) -> list[str]:
        return [g for g in self.failed if g not in self.waived]


class Replay:
    """The ledger's state after the lines applied so far."""

    def __init__(self, store: SignersStore | None = None, *, strict: bool = False) -> None:
        self.store, self.strict = store, strict
        self.pinned: AllowedSigners | None = None
        self.pinned_sha = ""
        self.genesis = ""
        self.candidates: dict[str, CandidateRecord] = {}
        self.stack: list[dict] = []  # promotion stack: `promoted` pushes, `rollback` pops to its target
        self.production: dict | None = None
        self.last: dict = {}  # the line applied before this one

    # ------------------------------------------------------------------ applying one line
    def apply(self, entry: dict) -> None:
        """Apply one (structurally valid) line; in strict mode RuleError / DecisionError / SignatureError
        when it breaks a rule."""
        event = Event(entry["event"])
        signer = self._check_signature(entry, event) if self.strict else None
        if not self.genesis:
            self.genesis = str(entry.get("hash", ""))
        record = self.candidates.get(entry.get("candidate_id", ""))
        if event == Event.CANDIDATE:
            self._require(record is None, f"candidate {entry['candidate_id']} is registered twice")
            failed = blocking_failures(entry.get("gates", []))
            state = CandidateState.GATES_FAILED if failed else CandidateState.PENDING
            record = CandidateRecord(entry, signer, state, failed)
            self.candidates[entry["candidate_id"]] = record
        elif event not in (Event.SIGNERS_CHANGED, Event.RECOVERED):
            self._require(record is not None, f"{event} for unknown candidate {entry.get('candidate_id')}")
            if record is None:
                return
        if record is not None:
            self._require(
                entry.get("model_version") == record.registration.get("model_version"),
                f"{event} line names model_version {entry.get('model_version')!r}, not the registered one",
            )
            record.entries.append(entry)
        if event in DECISION_EVENTS:
            decision = self._decision(entry, event)
            if decision is not None:
                check_decision(self, decision, line_signer=signer)
        self._transition(event, entry, record)
        self.last = entry

    def _transition(self, event: Event, entry: dict, record: CandidateRecord | None) -> None:
        if event == Event.GATES_FAILED:
            self._require(bool(record.failed), f"gates_failed for {record_id(record)}, whose gates passed")
        elif event == Event.WAIVED:
            for gate in entry.get("gates", []):
                record.waived[gate] = {"by": entry.get("reviewer"), "reason": entry.get("reason")}
            if record.state == CandidateState.GATES_FAILED and not record.open_failures:
                record.state = CandidateState.PENDING
        elif event in (Event.APPROVED, Event.REJECTED, Event.EXPIRED):
            if event == Event.EXPIRED:
                self._require(record.state in WAITING, f"{record_id(record)} is {record.state}")
            record.state = CandidateState(str(event))
            record.decision = entry
        elif event == Event.PACKAGED:
            self._require(
                record.state == CandidateState.APPROVED and record.packaged is None,
                f"{record_id(record)} is packaged while {record.state}",
            )
            manifest = record.registration.get("manifest") or {}
            self._require(
                entry.get("files") == manifest, "packaged files differ from the registered manifest"
            )
            record.packaged = entry
        elif event == Event.PROMOTED:
            # right after its own `packaged` line (same write): never a re-promotion without a decision
            packaged = self.last if self.last.get("event") == Event.PACKAGED else {}
            self._require(
                packaged.get("candidate_id") == entry.get("candidate_id")
                and packaged.get("bento_tag") == entry.get("bento_tag"),
                f"promoted {entry.get('bento_tag')} does not follow its own packaged line",
            )
            self._promote(entry, push=True)
        elif event == Event.ROLLBACK:
            target = self.stack[-2] if len(self.stack) >= 2 else {}
            self._require(
                entry.get("bento_tag") == target.get("bento_tag"),
                f"rollback to {entry.get('bento_tag')}, not to the previous production",
            )
            self._promote(entry, push=False)
        elif event == Event.SIGNERS_CHANGED and self.strict:
            self.pinned = self.store.get(entry["new_signers"])
            self.pinned_sha = self.pinned.sha256
        elif event == Event.SIGNERS_CHANGED:
            self.pinned_sha = entry.get("new_signers", "")

    def _promote(self, entry: dict, *, push: bool) -> None:
        if push:
            self.stack.append(entry)
        else:
            ids = [e.get("candidate_id") for e in self.stack]
            if entry.get("candidate_id") in ids:
                del self.stack[len(ids) - ids[::-1].index(entry.get("candidate_id")) :]
            else:
                self.stack.append(entry)
        if self.production is not None:
            self.candidates[self.production["candidate_id"]].state = CandidateState.RETIRED
        self.candidates[entry["candidate_id"]].state = CandidateState.PRODUCTION
        self.production = entry

    # ------------------------------------------------------------------ strict checks
    def _require(self, condition: bool, message: str) -> None:
        if self.strict and not condition:
            raise RuleError(message)

    def _check_signature(self, entry: dict, event: Event) -> Verified:
        """The line's signature, against the signers version in force (or, for `signers-changed`, the
        version it replaces; the very first line bootstraps trust in its own version)."""
        recorded = entry["signers"]
        if not self.pinned_sha:
            if event != Event.SIGNERS_CHANGED:
                raise RuleError("the first line must be `signers-changed` (the allowed signers in force)")
            if recorded != entry.get("new_signers"):
                raise RuleError("the first signers-changed line must record its own version as `signers`")
            version = self.store.get(recorded)
        elif recorded != self.pinned_sha:
            raise RuleError(
                f"signers hash {str(recorded)[:12]}… differs from the version in force "
                f"{self.pinned_sha[:12]}… "
                "without a release-manager-signed signers-changed entry"
            )
        else:
            version = self.pinned
        try:
            role = Role(entry["role"])
        except ValueError:
            raise RuleError(f"unknown role {entry['role']!r}") from None
        if role not in LINE_ROLES[event]:
            raise RuleError(f"a {event} line may not be signed as {role}")
        return version.verify(signed_bytes(entry), str(entry["sig"]), role, str(entry["signer"]))

    def _decision(self, entry: dict, event: Event) -> VerifiedDecision | None:
        if not self.strict:
            return None
        if not entry.get("decision"):
            raise RuleError(f"{event} line carries no reviewer-signed decision")
        decision = check_document(str(entry["decision"]), self.pinned)
        if ACTION_EVENT[decision.action] != event:
            raise RuleError(f"{event} line carries a {decision.action} decision")
        if entry.get("candidate_id") != decision.candidate_id:
            raise RuleError(
                f"{event} line for {entry.get('candidate_id')} carries a decision on {decision.candidate_id}"
            )
        # what the line shows and what takes effect (the waived gates) must be what the reviewer signed
        shown = {
            "reviewer": decision.reviewer.principal,
            "reason": decision.reason,
            "comment": decision.comment,
        }
        if event == Event.WAIVED:
            shown["gates"] = list(decision.gates)
        for key, signed in shown.items():
            if entry.get(key, "") != signed:
                raise RuleError(
                    f"the line's {key} {entry.get(key)!r} is not what the reviewer signed ({signed!r})"
                )
        return decision


def signature_jobs(entries: list[dict], store: SignersStore) -> list[tuple]:
    """Every signature `Replay` will check, with the signers version each line names (for
    `release.signing.prefetch`); lines whose version cannot be read are left to the replay to report."""
    jobs = []
    for entry in entries:
        try:
            version = store.get(entry["signers"])
            jobs.append(
                (
                    version,
                    Role(entry["role"]),
                    str(entry["signer"]),
                    str(entry["sig"]).strip(),
                    signed_bytes(entry),
                )
            )
            if entry.get("decision"):
                payload, body, sig = parse_document(str(entry["decision"]))
                jobs.append((version, Role.REVIEWER, str(payload.get("principal") or ""), sig.strip(), body))
        except (SignatureError, DecisionError, ValueError, KeyError):
            continue
    return jobs


def record_id(record: CandidateRecord | None) -> str:
    return "?" if record is None else str(record.registration.get("candidate_id"))


__all__ = ["CandidateRecord", "Replay", "RuleError", "SignatureError", "blocking_failures", "check_decision"]
