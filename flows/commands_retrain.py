"""`echojepa retrain`: the retrain flow run in this process, up to the reviewer's decision and packaging.

Registered on `flows.app.app` when flows.commands_release is imported. Without PREFECT_API_URL, Prefect runs
in its ephemeral mode (see flows.commands_release). `ledger verify` lives in flows.commands_ledger and
`orchestrator up` in flows.commands_orchestrator.
"""

from __future__ import annotations

from pathlib import Path

from config import PARAMS_FILE
from flows.app import app
from flows.commands_ledger import release_ledger


@app.command
def retrain(
    *,
    preset: str = "tiny",
    params: Path = PARAMS_FILE,
    approval_timeout_hours: float | None = None,
    stages: list[str] | None = None,
    key: Path | None = None,
) -> None:
    """Run the retrain flow in this process: version data, DVC stages, evaluation, candidate, approval.

    The candidate is registered by your key (its principal in the allowed signers), then the run pauses
    until a reviewer's signed decision arrives (`echojepa release sign ID --approve` prints one; pass it
    to `echojepa release approve` in another terminal, or paste it into the Prefect UI's form). Failed
    gates block until a reviewer signs a waiver naming them. An approved candidate is packaged and becomes
    production. Runs against PREFECT_API_URL, or Prefect's ephemeral API when it is unset.

    Parameters
    ----------
    preset
        Model preset; must equal params.yaml's model.preset (DVC reads params.yaml).
    params
        Parameter file (release.approval_timeout_hours, release.signing_key, the pipeline's sections).
    approval_timeout_hours
        How long to wait for a reviewer (default: release.approval_timeout_hours).
    stages
        DVC stages to reproduce, in order (default: validate, prepare, pretrain, embed, features, probe,
        evaluate and the stages they depend on, in dependency order).
    key
        Your SSH private key (or its .pub, the key in ssh-agent); default release.signing_key.
    """
    from flows.identity import use_key
    from flows.retrain import retrain as retrain_flow

    use_key(key)
    state = retrain_flow(
        preset=preset,
        params=params,
        approval_timeout_hours=approval_timeout_hours,
        stages=stages,
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
            reason = (candidate.decision or {}).get("reason", "")
            return f"candidate {candidate.candidate_id} {candidate.state}: {reason}".rstrip(": ")
    return message
