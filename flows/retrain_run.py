"""Who and what a `retrain` run is, and what its reviewer sees: the principal its key registers as, its tags,
whether a deployment started it, the text above the decision form and the decision artifact."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.approval import Verdict

if TYPE_CHECKING:
    from release.ledger import Ledger
    from release.signing import Signer

# what the reviewer sees above the decision form (the model card has everything)
HEADLINE_METRICS = (
    "ef_mae", "ef_rmse", "ef_r2", "view_accuracy", "view_macro_f1", "robustness_mean_increase",
    "robustness_worst_increase", "pediatric_ef_mae", "n_test", "n_test_labelled",
)  # fmt: skip


def from_deployment() -> bool:
    """Whether the current flow run belongs to a deployment (it can then suspend, not just pause)."""
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.deployment_id)


def run_principal(ledger: Ledger, signer: Signer) -> str:
    """Who this run registers as: the principal the ledger's allowed signers give the run's key in the
    initiator role (proven by a signature, before any stage runs). ValueError (one line) when the ledger
    does not verify, was never started, or the key may not register candidates."""
    from release.decisions import verified
    from release.events import Role
    from release.signing import SignatureError

    pinned = verified(ledger).pinned
    if pinned is None:
        raise ValueError(
            f"{ledger.path} is not started: a release manager runs `echojepa ledger init` "
            "(README 'For reviewers')"
        )
    try:
        return signer.identify(pinned, Role.INITIATOR).principal
    except SignatureError as exc:
        raise ValueError(f"this run cannot register a candidate: {exc}") from None


def tag_run(tag: str) -> None:
    """Add a tag to the current flow run (how `release approve` finds the run of a candidate)."""
    from prefect import get_client

    run_id = FlowRunContext.get().flow_run.id
    with get_client(sync_client=True) as client:
        tags = client.read_flow_run(run_id).tags
        if tag not in tags:
            client.update_flow_run(run_id, tags=[*tags, tag])


def approval_form_text(candidate_id: str, report: dict, initiator: str) -> str:
    """The markdown above the UI's decision form."""
    from evaluation.gates import GateCounts, rows
    from evaluation.results import render
    from release.ledger_rules import blocking_failures

    metrics = report.get("metrics", {})
    headline = [k for k in HEADLINE_METRICS if k in metrics]
    shown = "\n".join(f"| {k} | {render(metrics[k])} |" for k in headline) or "| (see the model card) | |"
    blocking = set(blocking_failures(report.get("gates", [])))
    exceptions = [g for g in rows(report.get("gates", [])) if not g.passed]
    listed = "\n".join(
        f"- **{g.name}** = {render(g.value)} ({g.direction} {g.threshold:.4g}): "
        f"{g.label}{' — BLOCKS until a reviewer waives it' if g.name in blocking else ''}"
        for g in exceptions
    )
    counts = GateCounts.of(report.get("gates", []))
    verdict = f"Gates: {counts}.\n\n{listed}" if exceptions else f"All gates passed ({counts})."
    waive = " Blocking gates need a signed `--waive GATE --reason TEXT` first." if blocking else ""
    return (
        f"**Release candidate `{candidate_id}`** (registered by {initiator}'s key). {verdict}\n\n"
        f"| metric | value |\n|---|---|\n{shown}\n\n"
        f"Paste the line `echojepa release sign {candidate_id} --approve` (or `--reject --reason TEXT`) "
        f"prints, signed with your key.{waive} You are whoever your key is; {initiator} cannot decide."
    )


def decision_artifact(candidate_id: str, verdict: Verdict) -> None:
    """Publish the reviewer's decision (or the expiry) as the run's `retrain-decision` artifact."""
    who = f" by {verdict.reviewer}" if verdict.reviewer else ""
    note = f": {verdict.note}" if verdict.note else ""
    create_markdown_artifact(
        markdown=f"### candidate `{candidate_id}`: **{verdict.state}**{who}{note}",
        key="retrain-decision",
        description="Reviewer decision",
    )
