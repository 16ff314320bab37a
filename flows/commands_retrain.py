"""The commands around the release process: `retrain` runs the flow in this process, `orchestrator up`
serves its deployments, and `ledger verify` checks the ledger they append to.

Registered on `flows.app.app` when flows.commands_release (which re-exports them) is imported. Without
PREFECT_API_URL, Prefect runs in its ephemeral mode (see flows.commands_release).
"""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from flows.app import app

ledger_app = App(name="ledger", help="The hash-chained release ledger (registry/ledger.jsonl).")
orchestrator_app = App(
    name="orchestrator", help="The local Prefect server and the deployments of prefect.yaml."
)
app.command(ledger_app)
app.command(orchestrator_app)


@app.command
def retrain(
    *,
    preset: str = "tiny",
    params: Path = Path("params.yaml"),
    approval_timeout_hours: float | None = None,
    stages: list[str] | None = None,
    waive_gate: list[str] | None = None,
    waiver_reason: str = "",
) -> None:
    """Run the retrain flow in this process: version data, DVC stages, evaluation, candidate, approval.

    After the gates pass the run pauses until a reviewer decides (`echojepa release approve|reject ID`
    in another terminal, or the form in the Prefect UI); an approved candidate is packaged and becomes
    production. Runs against PREFECT_API_URL, or Prefect's ephemeral API when it is unset.

    Parameters
    ----------
    preset
        Model preset; must equal params.yaml's model.preset (DVC reads params.yaml).
    params
        Parameter file (release.approval_timeout_hours, release.reviewers, the pipeline's sections).
    approval_timeout_hours
        How long to wait for a reviewer (default: release.approval_timeout_hours, else 72).
    stages
        DVC stages to reproduce, in order (default: validate, prepare, pretrain, embed, features, probe,
        evaluate and the stages they depend on, in dependency order).
    waive_gate
        A gate whose failure you waive (repeatable; needs --waiver-reason). Recorded in the ledger with your
        name and shown to the reviewer, who still has to approve.
    waiver_reason
        Why the waived gates should not block this candidate.
    """
    from flows.retrain import retrain as retrain_flow

    state = retrain_flow(
        preset=preset,
        params=params,
        approval_timeout_hours=approval_timeout_hours,
        stages=stages,
        waive_gates=waive_gate,
        waiver_reason=waiver_reason,
        return_state=True,
    )
    if state.is_failed() or state.is_crashed() or state.is_cancelled():
        raise ValueError(f"retrain {state.name.lower()}: {_failure(state, params)}")
    result = state.result()
    if not isinstance(result, dict):  # rejected, or released by an earlier attempt
        print(state.message)
        return
    print(
        f"released {result['tag']} (candidate {result['candidate_id']}, approved by {result['approved_by']})"
    )


@ledger_app.command
def verify(*, ledger: Path | None = None, params: Path = Path("params.yaml")) -> None:
    """Check the ledger's hash chain (and signatures when ECHOJEPA_LEDGER_KEY is set); exit 1 naming the
    first bad line. Promotion heads stored in the BentoML model store catch a truncated tail.

    Parameters
    ----------
    ledger
        The ledger file (default: release.ledger of --params).
    params
        Parameter file (release.ledger, release.model_name: whose promotion heads must be in the chain).
    """
    from flows.approval import release_settings
    from release.ledger import Ledger
    from release.package import expected_heads

    settings = release_settings(params)
    book = Ledger(ledger or settings.ledger)
    result = book.verify(expected_heads=expected_heads(settings.model_name))
    if not result.ok:
        raise ValueError(f"{book.path}: line {result.line}: {result.reason}")
    n = len(book.entries())
    print(
        f"{book.path}: ok ({n} entries, head {book.head()[:12]}…, production {book.production() or 'none'})"
    )


@orchestrator_app.command
def up(*, prefect_yaml: Path = Path("prefect.yaml")) -> None:
    """Start (or reuse) a local Prefect server on 127.0.0.1 and serve the deployments of prefect.yaml.

    Reuses the API at PREFECT_API_URL (default http://127.0.0.1:4200/api) when it answers. Blocks:
    scheduled, event-triggered and UI-started runs execute here; Ctrl-C stops serving.

    Parameters
    ----------
    prefect_yaml
        Deployment file (retrain: weekly + on echojepa.drift.detected; monitor: daily).
    """
    from flows.orchestrator import up as orchestrator_up

    orchestrator_up(prefect_yaml)


def _failure(state, params: Path) -> str:
    """Why the run failed; a timed-out approval wait (which Prefect reports as "never resumed") is told
    in the ledger's words."""
    from prefect import get_client

    message = (state.message or "see the flow run logs").strip().splitlines()[0]
    if "never resumed" not in message:
        return message
    with get_client(sync_client=True) as client:
        tags = client.read_flow_run(state.state_details.flow_run_id).tags
    for tag in tags:
        if tag.startswith("candidate:"):
            candidate = release_ledger(params).candidate(tag.removeprefix("candidate:"))
            reason = (candidate.get("decision") or {}).get("reason", "")
            return f"candidate {candidate['candidate_id']} {candidate['state']}: {reason}".rstrip(": ")
    return message


def release_ledger(params: Path):
    """The ledger named by params.yaml's release.ledger."""
    from flows.approval import release_settings
    from release.ledger import Ledger

    return Ledger(release_settings(params).ledger)
