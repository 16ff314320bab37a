"""Release commands: review candidates (`release list|show`) and sign decisions (`release sign`).

The ledger (registry/ledger.jsonl) is the source of truth for candidates and for what is production;
these commands read it and append to it through `release`, and talk to Prefect only to reach a flow run
that waits for a decision. A decision is a line signed with the reviewer's SSH key (`release sign`
prints it); `release approve|reject|submit|rollback` deliver it (flows.commands_decisions).

Without PREFECT_API_URL, Prefect runs in its ephemeral mode: each command starts a private API process
on the shared local database (PREFECT_HOME, ~/.prefect), so a decision given in another terminal still
reaches a paused `echojepa retrain`. With `echojepa orchestrator up` running, set
PREFECT_API_URL=http://127.0.0.1:4200/api to see runs and the decision form in the UI.

`retrain` (flows.commands_retrain), `ledger verify|init|recover` (flows.commands_ledger), the decision
commands (flows.commands_decisions) and `orchestrator up` (flows.commands_orchestrator) live beside it;
importing this module registers every release command.
"""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app
from flows.commands_decisions import approve, reject, rollback, signers_app, submit
from flows.commands_ledger import ledger_app, release_ledger, release_settings, verify
from flows.commands_orchestrator import orchestrator_app, up
from flows.commands_retrain import retrain

__all__ = [
    "KEY_GATES",
    "approve",
    "ledger_app",
    "list_candidates",
    "orchestrator_app",
    "reject",
    "release_app",
    "retrain",
    "rollback",
    "show",
    "sign",
    "signers_app",
    "submit",
    "up",
    "verify",
]

KEY_GATES = ("ef_mae", "view_accuracy")  # the gates `release list` shows as key metrics

release_app = App(name="release", help="Review release candidates, sign and deliver decisions, roll back.")
app.command(release_app)
for _command in (approve, reject, submit, rollback):
    release_app.command(_command)
release_app.command(signers_app)


@release_app.command(name="list")
def list_candidates(*, params: Path = PARAMS_FILE) -> None:
    """List release candidates: state, model version, who registered it, key gate metrics, decision.

    Parameters
    ----------
    params
        Parameter file (release.ledger: the ledger file).
    """
    from rich.console import Console
    from rich.measure import Measurement
    from rich.table import Table

    from evaluation.gates import rows
    from evaluation.results import render

    ledger = release_ledger(params)
    candidates = ledger.candidates()
    if not candidates:
        print(f"{ledger.path}: no candidates yet (run `echojepa retrain`)")
        return
    table = Table("candidate", "state", "model version", "registered by", *KEY_GATES, "gates", "decided by")
    for c in candidates:
        gates = {g.name: g for g in rows(c.gates)}
        shown = [render(gates[name].value) if name in gates else "—" for name in KEY_GATES]
        passed = sum(1 for g in gates.values() if g.passed)
        table.add_row(
            c.candidate_id, str(c.state), c.model_version, c.initiator, *shown, f"{passed}/{len(gates)}",
            c.reviewer,
        )  # fmt: skip
    console = Console()
    width = Measurement.get(console, console.options.update_width(1000), table).maximum  # never truncate ids
    Console(width=max(console.width, width)).print(table)


@release_app.command
def show(candidate_id: str, *, params: Path = PARAMS_FILE) -> None:
    """A candidate's gates (with reviewers' waivers), metrics and parameters, each compared with the
    production model's, and the files its registration froze.

    Parameters
    ----------
    candidate_id
        A candidate id (cand-…) from `echojepa release list`.
    params
        Parameter file (release.ledger: the ledger file).
    """
    from evaluation.gates import GateCounts, rows
    from evaluation.results import render
    from release.package import flat_metrics

    ledger = release_ledger(params)
    c = ledger.candidate(candidate_id)
    current = ledger.production_entry()
    prod = ledger.candidate(current["candidate_id"]) if current else None
    print(f"{c.candidate_id}  {c.state}  model {c.model_version}  registered by {c.initiator}")
    frozen = f"{len(c.manifest)} files frozen, weights {str(c.weights_sha256)[:16]}…"
    print(f"  data {c.data_version}  git {c.git_commit}  {frozen}")
    print(f"  production: {f'{prod.model_version} ({prod.candidate_id})' if prod else 'none yet'}")
    print(f"gates: {GateCounts.of(c.gates)}")
    for g in rows(c.gates):
        waiver = c.waived_gates.get(g.name)
        label = f"fail (WAIVED by {waiver['by']}: {waiver['reason']})" if waiver else g.label
        blocks = " — blocks until waived" if g.name in c.failed_gates else ""
        print(f"  {label}  {g.name}: {render(g.value)} ({g.direction} {g.threshold:.4g}){blocks}")
    print("metrics (candidate, production):")
    mine, theirs = flat_metrics(c.metrics), flat_metrics(prod.metrics) if prod else {}
    for key in sorted(mine):
        print(f"  {key}: {_number(mine[key])}, {_number(theirs[key]) if key in theirs else '—'}")
    if prod is None:
        print("params: no production model to compare with")
    else:
        mine, theirs = _flat(c.params), _flat(prod.params)
        changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        print(f"params changed vs production: {len(changed) or 'none'}")
        for key in changed:
            print(f"  {key}: {theirs.get(key, '—')} → {mine.get(key, '—')}")
    if c.decision:
        note = c.decision.get("reason") or c.decision.get("comment") or ""
        print(
            f"decision: {c.decision['event']} by {c.reviewer or '—'} at {c.decision['time']}  {note}".rstrip()
        )


@release_app.command
def sign(
    candidate_id: str = "",
    *,
    approve: bool = False,
    reject: bool = False,
    waive: list[str] | None = None,
    rollback: bool = False,
    reason: str = "",
    comment: str = "",
    key: Path | None = None,
    params: Path = PARAMS_FILE,
) -> None:
    """Sign a decision with your key and print it (one line): paste it into the paused run's form in the
    Prefect UI, or pass it to `echojepa release approve|reject|submit|rollback`.

    It names this ledger and this exact registration (a rollback: this exact production state) and your
    principal, as the allowed signers say your key is; it is refused now, in one line, when it would be
    refused later (you registered the candidate, your key holds no reviewer role, gates still block).

    Parameters
    ----------
    candidate_id
        The candidate (cand-…); not needed with --rollback.
    approve
        Approve the candidate.
    reject
        Reject it (needs --reason).
    waive
        Gate(s) whose failure you waive (needs --reason); the candidate still needs an approval.
    rollback
        Return production to the previous version (needs --reason; another person applies it).
    reason
        Why (recorded in the ledger).
    comment
        Optional note for the ledger.
    key
        Your SSH private key (or its .pub, the key in ssh-agent); default release.signing_key.
    params
        Parameter file (release.ledger, its witnesses).
    """
    from flows.identity import signer_for
    from release.decisions import sign_decision
    from release.events import Action

    chosen = [a for a, on in ((Action.APPROVE, approve), (Action.REJECT, reject), (Action.WAIVE, bool(waive)),
                              (Action.ROLLBACK, rollback)) if on]  # fmt: skip
    if len(chosen) != 1:
        raise ValueError("choose exactly one of --approve, --reject, --waive GATE, --rollback")
    if chosen[0] != Action.ROLLBACK and not candidate_id:
        raise ValueError(f"--{chosen[0]} needs the candidate id (cand-…)")
    settings = release_settings(params)
    text = sign_decision(
        release_ledger(params), signer_for(settings, key), chosen[0], candidate_id,
        comment=comment, reason=reason, gates=tuple(waive or ()),
    )  # fmt: skip
    print(text)


def _number(value) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) and not isinstance(value, bool) else str(value)


def _flat(tree: dict, prefix: str = "") -> dict:
    """Nested params → {"section.key": value}."""
    out = {}
    for key, value in (tree or {}).items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
