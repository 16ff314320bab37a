"""Who and what a `retrain` run is, and what its reviewer sees: its parameters, its initiator, its tags,
whether a deployment started it, the text above the decision form and the decision artifact."""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact
from prefect.context import FlowRunContext

from flows.approval import Verdict

# what the reviewer sees above the decision form (the model card has everything)
HEADLINE_METRICS = (
    "ef_mae", "ef_rmse", "ef_r2", "view_accuracy", "view_macro_f1", "robustness_mean_increase",
    "robustness_worst_increase", "pediatric_ef_mae", "n_test", "n_test_labelled",
)  # fmt: skip


def from_deployment() -> bool:
    """Whether the current flow run belongs to a deployment (it can then suspend, not just pause)."""
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.deployment_id)


def run_initiator(explicit: str | None) -> str:
    """The given initiator; else `scheduler` for a deployment run a schedule or an automation created;
    else the person Prefect names as its creator; else the OS user."""
    from release.decisions import current_initiator

    if explicit:
        return explicit
    run = FlowRunContext.get().flow_run
    creator = run.created_by
    by_automation = creator is not None and str(creator.type).upper() == "AUTOMATION"
    if creator is not None and str(creator.type).upper() == "USER" and creator.display_value:
        return str(creator.display_value)  # a person started it from the UI / API (Prefect with accounts)
    return current_initiator(scheduled=bool(run.deployment_id and (run.auto_scheduled or by_automation)))


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
    from evaluation.gates import rows
    from evaluation.results import render

    metrics = report.get("metrics", {})
    headline = [k for k in HEADLINE_METRICS if k in metrics]
    shown = "\n".join(f"| {k} | {render(metrics[k])} |" for k in headline) or "| (see the model card) | |"
    exceptions = [g for g in rows(report.get("gates", [])) if not g.passed]
    listed = "\n".join(
        f"- **{g.name}** = {render(g.value)} ({g.direction} {g.threshold:.4g}): {g.label}" for g in exceptions
    )
    verdict = f"Gates passed except these (not blocking):\n\n{listed}" if exceptions else "All gates passed."
    return (
        f"**Release candidate `{candidate_id}`** (started by {initiator}). {verdict}\n\n"
        f"| metric | value |\n|---|---|\n{shown}\n\n"
        "Approve, or reject with a reason. You must not be the initiator; the ledger records your name."
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
