"""The `retrain` flow: version the data → DVC stages → evaluation → candidate → reviewer → package.

Each step is a task that publishes an artifact, so the Prefect UI shows the run as a report. The pipeline
itself stays DVC's: every stage task is one `dvc repro --single-item STAGE`, so an unchanged stage is
reused and dvc.lock keeps the lineage. The flow then freezes the candidate's files and registers it in the
release ledger, signed by the run's key (flows.identity), and waits for a reviewer's signed decision (see
flows.approval). Failed gates do not end the run: they block until a reviewer (never the registrant)
signs a waiver naming them, or rejects; nobody can approve past them. An approved candidate is packaged
from its frozen files into the BentoML store and becomes production.

Why wait instead of failing at once: a waiver is a reviewer's decision, so the run that would package the
candidate must still be there when it comes; a gate-failed run costs nothing while it waits (a deployment
run suspends), ends Rejected at a rejection and Expired when the window closes.

    echojepa retrain                     # in-process, against PREFECT_API_URL or Prefect's ephemeral API
    echojepa orchestrator up             # serves the `retrain` deployment (weekly + on drift events)

Results persist under .prefect-results/ (git-ignored), which lets a suspended deployment run resume
without redoing its finished tasks.

The tasks are in flows.retrain_tasks, the run's principal, tags and reviewer-facing text in
flows.retrain_run; prefect.yaml's entrypoint is this module's `retrain`.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.states import Completed, Failed

from config import PARAMS_FILE
from config.params import load_params
from evaluation.gates import failed_gates
from flows.approval import UNVERIFIED, Verdict, candidate_tag, wait_for_decision
from flows.identity import signer_for
from flows.retrain_run import approval_form_text, decision_artifact, from_deployment, run_principal, tag_run
from flows.retrain_tasks import (
    TRANSIENT,
    open_approval_window,
    package,
    read_evaluation,
    register,
    reproduce,
    version_data,
)
from release.events import CandidateState
from release.ledger import open_ledger
from serving.config import ServingSettings

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
    approval_timeout_hours: float | None = None,
    stages: list[str] | None = None,
    approval_poll_s: int = 2,
):
    """Retrain, evaluate and (after a reviewer's signed approval) release the EchoJEPA encoder.

    Who registers is the key this process signs with (`echojepa retrain --key`, else release.signing_key:
    the `scheduler` key where the deployments are served), never a parameter of the run.

    Args:
        preset: model preset; must match params.yaml's model.preset (DVC reads params.yaml).
        params: parameter file.
        approval_timeout_hours: reviewer window; default params.yaml's release.approval_timeout_hours.
        stages: DVC stages to reproduce, in order; default validate … evaluate plus what they depend on.
        approval_poll_s: how often a paused in-process run asks the API whether it was resumed (one
            small GET; a deployment run suspends instead). Each decision (a waiver, then an approval)
            waits up to this long to be picked up.
    """
    logger = get_run_logger()
    _check_params_file(params)
    config = load_params(params)
    if preset != config.model.preset:
        raise ValueError(
            f"--preset {preset}: {params} has model.preset={config.model.preset}; set it there (DVC reads it)"
        )
    layout, settings = config.layout(), config.release
    ledger, signer = open_ledger(settings), signer_for(settings)
    who = run_principal(ledger, signer)  # refuse a key that may not register now, not after the pipeline
    tag_run("initiator:" + who)

    version_data(layout.data.dataset_dir, layout.production_clips)
    for stage in _pipeline(stages):
        reproduce(stage, params)
    report = read_evaluation(layout.evaluation)
    candidate_id = register(report, layout, settings, config.model_dump(mode="json", by_alias=True))
    tag_run(candidate_tag(candidate_id))

    hours = approval_timeout_hours or settings.approval_timeout_hours
    failed = failed_gates(report["gates"])
    if failed:  # the reviewer decides: waive by name (a signed decision) or reject; nothing ships before
        logger.warning(
            "candidate %s: %d gate(s) failed: %s; it waits up to %.4g h for a reviewer's signed waiver "
            "(`echojepa release sign %s --waive GATE --reason TEXT`) or rejection",
            candidate_id, len(failed), "; ".join(failed), hours, candidate_id,
        )  # fmt: skip
    else:
        logger.info(
            "candidate %s waits up to %.4g h for a reviewer: `echojepa release sign %s --approve` (or "
            "--reject --reason TEXT) prints a signed decision; paste it into the Resume form of the "
            "Prefect UI or pass it to `echojepa release approve|reject`",
            candidate_id, hours, candidate_id,
        )  # fmt: skip
    verdict = wait_for_decision(
        ledger, candidate_id, signer=signer, opened_at=open_approval_window(), timeout_s=hours * 3600,
        suspend=from_deployment(), poll_s=approval_poll_s,
        description=approval_form_text(candidate_id, report, who), logger=logger,
    )  # fmt: skip
    decision_artifact(candidate_id, verdict)
    serving = ServingSettings.from_params(config, params)  # the load smoke test before promotion
    return _outcome(candidate_id, verdict, failed) or _released(candidate_id, verdict, settings, serving)


def _check_params_file(params: Path) -> None:
    """A deployment run reads the repository's params.yaml only: its release section (ledger, allowed
    signers, the signing key, require_signatures, witnesses) is the host's, not something a custom run
    from the UI may point elsewhere. ValueError (one line) before any step otherwise."""
    if from_deployment() and Path(params).resolve() != PARAMS_FILE.resolve():
        raise ValueError(
            f"params={params}: a deployment run reads {PARAMS_FILE} in its working directory only; its "
            "release settings (ledger, signers, keys) are the host's, not a run parameter"
        )


def _outcome(candidate_id: str, verdict: Verdict, failed: list[str]):
    """The run's final state when the wait ended without an approval to package (None: package)."""
    if verdict.state == UNVERIFIED:
        return Failed(message=f"candidate {candidate_id} not packaged: {verdict.note}")
    if verdict.state == CandidateState.EXPIRED:  # Prefect fails a timed-out pause whatever the flow returns
        gates = f"; {len(failed)} gate(s) failed: {'; '.join(failed)}" if failed else ""
        return Failed(name="Expired", message=f"candidate {candidate_id} expired: {verdict.note}{gates}")
    if verdict.state in (CandidateState.PRODUCTION, CandidateState.RETIRED):  # a retried run
        return Completed(message=f"candidate {candidate_id} was already packaged ({verdict.state})")
    if verdict.state != CandidateState.APPROVED:
        return Completed(name="Rejected", message=f"candidate {candidate_id} rejected by {verdict.reviewer}")
    return None


def _released(candidate_id: str, verdict: Verdict, settings, serving: ServingSettings) -> dict:
    tag = package(candidate_id, settings, serving)
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
