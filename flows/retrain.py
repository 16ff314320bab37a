"""The `retrain` flow: version the data → DVC stages → evaluation → candidate → reviewer → package.

Each step is a task that publishes an artifact, so the Prefect UI shows the run as a report. The pipeline
itself stays DVC's: every stage task is one `dvc repro --single-item STAGE`, so an unchanged stage is
reused and dvc.lock keeps the lineage. The flow then registers a candidate in the release ledger; failed
gates end the run Failed (naming each criterion), otherwise it waits for a reviewer (see flows.approval)
and, once approved, packages the model into the BentoML store.

    echojepa retrain                     # in-process, against PREFECT_API_URL or Prefect's ephemeral API
    echojepa orchestrator up             # serves the `retrain` deployment (weekly + on drift events)

Results persist under .prefect-results/ (git-ignored), which lets a suspended deployment run resume
without redoing its finished tasks.

The tasks are in flows.retrain_tasks, the run's identity (initiator, tags) and reviewer-facing text in
flows.retrain_run; prefect.yaml's entrypoint is this module's `retrain`.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed

from config import PARAMS_FILE
from config.params import load_params
from flows.approval import candidate_tag, wait_for_decision
from flows.retrain_run import approval_form_text, decision_artifact, from_deployment, run_initiator, tag_run
from flows.retrain_tasks import (
    TRANSIENT,
    open_approval_window,
    package,
    read_evaluation,
    register,
    reproduce,
    version_data,
)

__all__ = [
    "RESULTS",
    "STAGES",
    "TRANSIENT",
    "open_approval_window",
    "package",
    "read_evaluation",
    "register",
    "reproduce",
    "retrain",
    "version_data",
]

STAGES = ("validate", "prepare", "pretrain", "embed", "features", "probe", "evaluate")
RESULTS = Path(".prefect-results")  # relative: resolved in the working directory of the run


@flow(name="retrain", persist_result=True, result_storage=RESULTS, log_prints=True)
def retrain(
    preset: str = "tiny",
    params: Path = PARAMS_FILE,
    initiator: str | None = None,
    approval_timeout_hours: float | None = None,
    stages: list[str] | None = None,
    approval_poll_s: int = 10,
    waive_gates: list[str] | None = None,
    waiver_reason: str = "",
):
    """Retrain, evaluate and (after a reviewer's approval) release the EchoJEPA encoder.

    Args:
        preset: model preset; must match params.yaml's model.preset (DVC reads params.yaml).
        params: parameter file.
        initiator: who started the run; default the OS user, or `scheduler` for schedule/event runs.
        approval_timeout_hours: reviewer window; default params.yaml's release.approval_timeout_hours.
        stages: DVC stages to reproduce, in order; default validate … evaluate plus what they depend on.
        approval_poll_s: how often a paused run checks for the reviewer's decision.
        waive_gates: gates whose failure the initiator waives (recorded in the ledger with the reason and
            shown to the reviewer as "waived"); the reviewer still decides.
        waiver_reason: why; required with waive_gates.
    """
    logger = get_run_logger()
    config = load_params(params)
    if preset != config.model.preset:
        raise ValueError(
            f"--preset {preset}: {params} has model.preset={config.model.preset}; set it there (DVC reads it)"
        )
    layout, settings = config.layout(), config.release
    if waive_gates:  # refuse a bad waiver now, not after the whole pipeline has run
        from evaluation.gates import check_waiver

        check_waiver(waive_gates, waiver_reason)
        if initiator is not None:  # a waiver is signed by whoever started the run, never a name passed in
            raise ValueError("waive_gates cannot be combined with an explicit initiator")
    who = run_initiator(initiator)
    tag_run("initiator:" + who)

    version_data(layout.data.dataset_dir, layout.production_clips)
    for stage in _pipeline(stages):
        reproduce(stage, params)
    report = read_evaluation(layout.evaluation)
    if waive_gates:
        from evaluation.gates import waive

        report["gates"] = [g.to_json() for g in waive(report["gates"], waive_gates, waiver_reason, who)]
        logger.warning("gates waived by %s (%s): %s", who, waiver_reason, ", ".join(waive_gates))
    candidate_id = register(report, layout, who, config.model_dump(mode="json", by_alias=True))
    tag_run(candidate_tag(candidate_id))

    from evaluation.gates import failed_gates

    failed = failed_gates(report["gates"])
    if failed:
        return Failed(message=f"candidate {candidate_id}: {len(failed)} gate(s) failed: {'; '.join(failed)}")

    from release.ledger import Ledger

    hours = approval_timeout_hours or settings.approval_timeout_hours
    logger.info(
        "candidate %s waits up to %.4g h for a reviewer: the Resume form of the Prefect UI, or "
        "`echojepa release approve|reject %s --reviewer NAME` (reject needs --reason)",
        candidate_id, hours, candidate_id,
    )  # fmt: skip
    verdict = wait_for_decision(
        Ledger(settings.ledger), candidate_id, opened_at=open_approval_window(), timeout_s=hours * 3600,
        allow_list=settings.allow_list, suspend=from_deployment(), poll_s=approval_poll_s,
        description=approval_form_text(candidate_id, report, who), logger=logger,
    )  # fmt: skip
    decision_artifact(candidate_id, verdict)
    if verdict.state == "expired":  # Prefect fails a timed-out pause whatever the flow returns
        return Failed(name="Expired", message=f"candidate {candidate_id} expired: {verdict.note}")
    if verdict.state in ("production", "retired"):  # a retried run whose package step had finished
        return Completed(message=f"candidate {candidate_id} was already packaged ({verdict.state})")
    if verdict.state != "approved":
        return Completed(name="Rejected", message=f"candidate {candidate_id} rejected by {verdict.reviewer}")
    tag = package(candidate_id, layout, report, settings)
    return {"candidate_id": candidate_id, "tag": tag, "approved_by": verdict.reviewer}


def _pipeline(stages: list[str] | None) -> list[str]:
    """The stages to run: the requested ones; by default STAGES (those dvc.yaml defines) and every stage
    they depend on (e.g. simulate@synthetic), in dependency order, dvc.yaml order among equals."""
    if stages is not None:
        return list(stages)
    if not Path("dvc.yaml").is_file():
        raise ValueError("dvc.yaml not found: run retrain from the repository root")
    import networkx as nx
    from dvc.repo import Repo

    with Repo(".") as repo:
        graph = repo.index.graph  # edges point from a stage to the stages it depends on
        rank = {stage.name: i for i, stage in enumerate(repo.index.stages)}
        targets = [node for node in graph.nodes if node.name in STAGES]
        wanted = set(targets).union(*(nx.descendants(graph, t) for t in targets))
        ordered = nx.lexicographical_topological_sort(
            graph.subgraph(wanted).reverse(), key=lambda s: rank[s.name]
        )
        order = [stage.name for stage in ordered]
    missing = [s for s in STAGES if s not in order]
    if missing:
        get_run_logger().warning("dvc.yaml has no stage %s; skipped", ", ".join(missing))
    return order
