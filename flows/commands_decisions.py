"""Delivering signed decisions: `echojepa release approve|reject|submit|rollback` and `release signers set`.

Each takes the line `echojepa release sign` printed: as the argument, a file holding it, or on stdin when
the argument is left out (`echojepa release sign ID --approve | echojepa release approve`).
Nothing here trusts a name: the decision is verified against the ledger (signature in the reviewer role,
this ledger, this registration or production state, not the registrant) before it goes anywhere, and the
line that records it is signed by whoever delivers it (the waiting run's key, or `--key`). Registered on
the `release` app by flows.commands_release.
"""

from __future__ import annotations

import sys
from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.commands_ledger import release_ledger, release_settings, signers_text

signers_app = App(name="signers", help="Change who may do what (the allowed-signers file in force).")


def decision_text(decision: str) -> str:
    """The signed decision from an argument: the line itself, a file holding it, or (empty) stdin."""
    from release.decision_docs import PREFIX

    if not decision:
        if sys.stdin.isatty():
            raise ValueError(
                "no decision given: pass the line `echojepa release sign` printed, or pipe it in"
            )
        return sys.stdin.read().strip()
    if decision.strip().startswith(PREFIX):
        return decision.strip()
    path = Path(decision)
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    raise ValueError(f"{decision[:40]!r} is not a signed decision ({PREFIX}.…) nor a file holding one")


def _deliver(decision: str, key: Path | None, params: Path, expected: tuple[str, ...]) -> None:
    """Verify the decision, check it is one of `expected` actions, hand it to the waiting run."""
    from flows.approval import submit_decision
    from flows.identity import signer_for
    from release.decision_docs import parse_document

    text = decision_text(decision)
    action = str(parse_document(text)[0].get("action"))
    if action not in expected:
        raise ValueError(f"this is a signed {action} decision; deliver it with `echojepa release submit`")
    settings = release_settings(params)
    signer = signer_for(settings, key) if key or settings.signing_key else None  # only to record directly
    print(submit_decision(release_ledger(params), text, signer=signer))


def approve(decision: str = "", *, params: Path = PARAMS_FILE) -> None:
    """Deliver a signed approval: resumes the flow run waiting for the candidate, which records it and
    packages the model; refused when no run waits, since nothing would package it.

    Parameters
    ----------
    decision
        The line `echojepa release sign ID --approve` printed, a file holding it; left out: read from stdin.
    params
        Parameter file (release.ledger).
    """
    _deliver(decision, None, params, ("approve",))


def reject(decision: str = "", *, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Deliver a signed rejection: resumes the waiting flow run (which ends Rejected), or records it in
    the ledger directly, in a line signed by your key, when no run waits.

    Parameters
    ----------
    decision
        The line `echojepa release sign ID --reject --reason TEXT` printed or a file holding it (or stdin).
    key
        Your key, to record it when no run waits; default release.signing_key.
    params
        Parameter file (release.ledger).
    """
    _deliver(decision, key, params, ("reject",))


def submit(decision: str = "", *, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Deliver any signed decision on a candidate (approve, reject, waive) to the run waiting for it.

    Parameters
    ----------
    decision
        The line `echojepa release sign` printed, a file holding it; left out: read from stdin.
    key
        Your key, to record a rejection when no run waits; default release.signing_key.
    params
        Parameter file (release.ledger).
    """
    _deliver(decision, key, params, ("approve", "reject", "waive"))


def rollback(decision: str = "", *, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Apply a reviewer's signed rollback: the previous production version is current again (a
    `rollback` line signed by your key: you must be another person than the reviewer who signed it).

    Serving resolves production through the ledger, so the next model load serves the previous version.

    Parameters
    ----------
    decision
        The line `echojepa release sign --rollback --reason TEXT` printed or a file holding it (or stdin).
    key
        Your key (initiator or reviewer role); default release.signing_key.
    params
        Parameter file (release.ledger).
    """
    from flows.identity import signer_for
    from release.package import rollback as release_rollback

    settings = release_settings(params)
    ledger = release_ledger(params)
    before = ledger.production()
    version = release_rollback(ledger, decision_text(decision), signer=signer_for(settings, key))
    line = ledger.entries()[-1]
    who = f"decided by {line['reviewer']}, applied by {line['signer']}"
    print(f"production rolled back: {before} → {version} ({who})")


@signers_app.command(name="set")
def set_signers(signers: Path, *, key: Path | None = None, params: Path = PARAMS_FILE) -> None:
    """Adopt a new allowed-signers file: a `signers-changed` ledger line signed by a release manager of the
    version in force. Editing the file alone changes nothing.

    Parameters
    ----------
    signers
        The new allowed-signers file (one line per key: NAME namespaces="ROLES" KEY).
    key
        Your key (a release manager now); default release.signing_key.
    params
        Parameter file (release.ledger).
    """
    from flows.identity import signer_for
    from release.decisions import change_signers

    settings = release_settings(params)
    entry = change_signers(release_ledger(params), signer_for(settings, key), signers_text(signers))
    print(
        f"allowed signers {entry['new_signers'][:12]}… in force from line {entry['seq']} "
        f"(signed by {entry['signer']})"
    )
