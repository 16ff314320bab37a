"""Release commands: run the retrain flow, review candidates, roll back, verify the ledger, serve flows.

The ledger (registry/ledger.jsonl) is the source of truth for candidates and for what is production;
these commands read it and append to it through `release`, and talk to Prefect only to reach a flow run
that waits for a decision. Without PREFECT_API_URL, Prefect runs in its ephemeral mode: each command
starts a private API process on the shared local database (PREFECT_HOME, ~/.prefect), so a decision
given in another terminal still reaches a paused `echojepa retrain`. With `echojepa orchestrator up`
running, set PREFECT_API_URL=http://127.0.0.1:4200/api to see runs and the decision form in the UI.

`retrain` (flows.commands_retrain), `ledger verify` (flows.commands_ledger) and `orchestrator up`
(flows.commands_orchestrator) live beside it; importing this module registers every release command.
"""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app
from flows.commands_ledger import ledger_app, release_ledger, verify
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
    "up",
    "verify",
]

KEY_GATES = ("ef_mae", "view_accuracy")  # the gates `release list` shows as key metrics

release_app = App(name="release", help="Review release candidates, approve or reject them, roll back.")
app.command(release_app)


@release_app.command(name="list")
def list_candidates(*, params: Path = PARAMS_FILE) -> None:
    """List release candidates: state, model version, initiator, key gate metrics, decision.

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
    table = Table("candidate", "state", "model version", "initiator", *KEY_GATES, "gates", "decided by")
    for c in candidates:
        gates = {g.name: g for g in rows(c.get("gates", []))}
        shown = [render(gates[name].value) if name in gates else "—" for name in KEY_GATES]
        passed = sum(1 for g in gates.values() if g.passed)
        decision = c.get("decision") or {}
        table.add_row(
            c["candidate_id"], c["state"], str(c["model_version"]), str(c.get("initiator") or ""),
            *shown, f"{passed}/{len(gates)}", str(decision.get("reviewer") or ""),
        )  # fmt: skip
    console = Console()
    width = Measurement.get(console, console.options.update_width(1000), table).maximum  # never truncate ids
    Console(width=max(console.width, width)).print(table)


@release_app.command
def show(candidate_id: str, *, params: Path = PARAMS_FILE) -> None:
    """A candidate's gates, metrics and parameters, each compared with the production model's.

    Parameters
    ----------
    candidate_id
        A candidate id (cand-…) from `echojepa release list`.
    params
        Parameter file (release.ledger: the ledger file).
    """
    from evaluation.gates import rows
    from evaluation.results import render
    from release.package import flat_metrics

    ledger = release_ledger(params)
    c = ledger.candidate(candidate_id)
    current = ledger.production_entry()
    prod = ledger.candidate(current["candidate_id"]) if current else None
    print(f"{c['candidate_id']}  {c['state']}  model {c['model_version']}  started by {c.get('initiator')}")
    weights = str(c.get("weights_sha256"))[:16]
    print(f"  data {c.get('data_version')}  git {c.get('git_commit')}  weights {weights}…")
    shown = f"{prod['model_version']} ({prod['candidate_id']})" if prod else "none yet"
    print(f"  production: {shown}")
    print("gates:")
    for g in rows(c.get("gates", [])):
        print(f"  {g.label}  {g.name}: {render(g.value)} ({g.direction} {g.threshold:.4g})")
    print("metrics (candidate, production):")
    mine, theirs = flat_metrics(c.get("metrics", {})), flat_metrics(prod["metrics"]) if prod else {}
    for key in sorted(mine):
        print(f"  {key}: {_number(mine[key])}, {_number(theirs[key]) if key in theirs else '—'}")
    if prod is None:
        print("params: no production model to compare with")
    else:
        mine, theirs = _flat(c.get("params", {})), _flat(prod.get("params", {}))
        changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
        print(f"params changed vs production: {len(changed) or 'none'}")
        for key in changed:
            print(f"  {key}: {theirs.get(key, '—')} → {mine.get(key, '—')}")
    decision = c.get("decision")
    if decision:
        note = decision.get("reason") or decision.get("comment") or ""
        who = decision.get("reviewer") or "—"
        print(f"decision: {decision['event']} by {who} at {decision['time']}  {note}".rstrip())


@release_app.command
def approve(candidate_id: str, *, reviewer: str, comment: str = "", params: Path = PARAMS_FILE) -> None:
    """Approve a candidate: resumes the flow run waiting for it (which then packages the model); refused
    when no run waits, since nothing would package it.

    Refused with one line when the reviewer started the run, is not on release.reviewers, or the
    candidate is not pending.

    Parameters
    ----------
    candidate_id
        A pending candidate (cand-…).
    reviewer
        Your name as recorded in the ledger; must differ from the run's initiator.
    comment
        Optional note for the ledger.
    params
        Parameter file (release.reviewers: the optional allow-list; release.ledger).
    """
    _decide(candidate_id, approve=True, reviewer=reviewer, comment=comment, params=params)


@release_app.command
def reject(candidate_id: str, *, reviewer: str, reason: str, params: Path = PARAMS_FILE) -> None:
    """Reject a candidate with a reason: resumes the waiting flow run (which ends Rejected), or records
    the decision in the ledger when no run waits.

    Parameters
    ----------
    candidate_id
        A pending candidate (cand-…).
    reviewer
        Your name as recorded in the ledger; must differ from the run's initiator.
    reason
        Why (required; goes into the ledger).
    params
        Parameter file (release.reviewers: the optional allow-list; release.ledger).
    """
    _decide(candidate_id, approve=False, reviewer=reviewer, reason=reason, params=params)


def _decide(
    candidate_id: str, *, approve: bool, reviewer: str, params: Path, comment: str = "", reason: str = ""
) -> None:
    from config.params import load_params
    from flows.approval import submit_decision
    from release.ledger import Ledger

    settings = load_params(params).release
    kwargs = {"comment": comment, "reason": reason, "allow_list": settings.allow_list}
    print(
        submit_decision(Ledger(settings.ledger), candidate_id, approve=approve, reviewer=reviewer, **kwargs)
    )


@release_app.command
def rollback(*, reviewer: str, reason: str, params: Path = PARAMS_FILE) -> None:
    """Make the previous production version current again (a `rollback` entry in the ledger).

    Serving resolves production through the ledger, so the next model load serves the previous version.

    Parameters
    ----------
    reviewer
        Who decides the rollback (recorded).
    reason
        Why (required; recorded).
    params
        Parameter file (release.ledger: the ledger file).
    """
    from release.package import rollback as release_rollback

    ledger = release_ledger(params)
    before = ledger.production()
    version = release_rollback(ledger, reviewer=reviewer, reason=reason)
    print(f"production rolled back: {before} → {version} (by {reviewer})")


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
