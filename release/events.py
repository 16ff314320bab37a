"""The release vocabulary as enums: ledger events, candidate states, signing roles and reviewer actions.

`StrEnum`s, so a value compares equal to its string (`Event.APPROVED == "approved"`) and is written to
the ledger as that string: the file format does not change, only the code stops spelling states by hand.

Roles are the `namespaces="..."` of the allowed-signers file (the ssh-keygen `-Y sign -n` namespace), so
a signature made for one role can never be replayed as another: ssh-keygen refuses a namespace mismatch.
"""

from __future__ import annotations

from enum import StrEnum


class Event(StrEnum):
    """What one ledger line records."""

    SIGNERS_CHANGED = "signers-changed"  # a new allowed-signers version is in force (release manager)
    CANDIDATE = "candidate"  # a registration: manifest, gates, metrics
    GATES_FAILED = "gates_failed"  # follows `candidate` in the same write when a blocking gate failed
    WAIVED = "waived"  # a reviewer waived failed gates (the candidate is pending again)
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"  # the approval window closed without a decision
    PACKAGED = "packaged"  # the frozen files went into the BentoML store
    PROMOTED = "promoted"  # ... and became production
    ROLLBACK = "rollback"  # production went back to the previous version
    RECOVERED = "recovered"  # `ledger recover` repaired a crash; the entry lists what it did


class CandidateState(StrEnum):
    """Where a candidate stands (derived from its ledger lines and the promotion history)."""

    PENDING = "pending"
    GATES_FAILED = "gates_failed"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    PRODUCTION = "production"
    RETIRED = "retired"  # was production once, is not now


class Role(StrEnum):
    """A signing role = an ssh-keygen namespace listed in the allowed-signers file."""

    INITIATOR = "echojepa-initiator"  # starts runs, registers candidates, writes the run's ledger lines
    REVIEWER = "echojepa-review"  # signs decisions (approve, reject, waive, rollback)
    RELEASE_MANAGER = "echojepa-release-manager"  # signs changes of the allowed-signers file


class Action(StrEnum):
    """What a reviewer's signed decision asks for."""

    APPROVE = "approve"
    REJECT = "reject"
    WAIVE = "waive"
    ROLLBACK = "rollback"


ACTION_EVENT = {
    Action.APPROVE: Event.APPROVED,
    Action.REJECT: Event.REJECTED,
    Action.WAIVE: Event.WAIVED,
    Action.ROLLBACK: Event.ROLLBACK,
}
DECISION_EVENTS = frozenset(ACTION_EVENT.values())  # lines that must carry a reviewer's signed decision
DECIDED_EVENTS = frozenset({Event.APPROVED, Event.REJECTED, Event.EXPIRED})  # end a candidate's wait
CANDIDATE_EVENTS = frozenset(Event) - {Event.SIGNERS_CHANGED, Event.RECOVERED}  # need candidate_id

# Who may sign a line itself. Decision lines are written by whoever delivers the decision (the waiting
# run, or a reviewer's CLI); the reviewer's authority comes from the signed document inside the line.
LINE_ROLES: dict[Event, tuple[Role, ...]] = {
    Event.SIGNERS_CHANGED: (Role.RELEASE_MANAGER,),
    Event.CANDIDATE: (Role.INITIATOR,),
    Event.GATES_FAILED: (Role.INITIATOR,),
    Event.EXPIRED: (Role.INITIATOR,),
    Event.PACKAGED: (Role.INITIATOR,),
    Event.PROMOTED: (Role.INITIATOR,),
    Event.WAIVED: (Role.INITIATOR, Role.REVIEWER),
    Event.APPROVED: (Role.INITIATOR, Role.REVIEWER),
    Event.REJECTED: (Role.INITIATOR, Role.REVIEWER),
    Event.ROLLBACK: (Role.INITIATOR, Role.REVIEWER),
    Event.RECOVERED: (Role.INITIATOR, Role.RELEASE_MANAGER),
}
