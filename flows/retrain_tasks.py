"""The tasks of the `retrain` flow (flows.retrain): DVC versioning and stages, the evaluation report,
the candidate's registration, the approval window and packaging, each publishing an artifact.

The tasks that call DVC (`_dvc`) retry, via `_transient`, only on lock contention and network trouble.
Every path comes from the run layout (config.layout). Registration freezes every file that will be served
(encoder, probes, config, evaluation.json, the monitoring reference the evaluation wrote for the same
probes, the model card) under the candidate's id; packaging copies those frozen files, never the run
folder, so a `dvc repro probe` during the review cannot change what ships. Both lines are signed by the
run's key (flows.identity).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from config.layout import RunLayout
from release.config import ReleaseConfig
from serving.config import ServingSettings

TRANSIENT = ("Unable to acquire lock", "unreachable", "Connection", "Timeout", "timed out")


def _transient(task, task_run, state) -> bool:
    """Retry DVC only on lock contention and network trouble; a failing stage fails at once."""
    try:
        state.result()
    except Exception as exc:
        return any(word in str(exc) for word in TRANSIENT)
    return False


def _dvc(*args: str) -> str:
    """`dvc ARGS` with the venv's bin on PATH (stage commands call `echojepa`); ValueError on failure."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "dvc", *args], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.startswith("ERROR")] or lines or ["failed with no output"]
        causes = [ln.strip() for ln in lines if "echojepa: error:" in ln]  # the stage command's own line
        cause = f" ({causes[-1]})" if causes else ""
        raise ValueError(f"dvc {' '.join(args)}: {errors[-1].removeprefix('ERROR: ')}{cause}")
    return done.stdout


def _stage_outputs() -> dict[str, str]:
    """{output path: stage name} of dvc.yaml (with params interpolated)."""
    from dvc.repo import Repo

    with Repo(".") as repo:
        return {out.def_path: stage.name for stage in repo.index.stages for out in stage.outs}


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_transient)
def version_data(dataset: Path, clips: Path) -> list[str]:
    """Version the training data with DVC: the dataset (`dvc add`, unless a pipeline stage makes it) and
    retained production clips (unlabelled pretraining material). Nothing is committed to git."""
    from flows.app import in_dvc_repo

    if in_dvc_repo() is None:
        rows = [{"path": str(dataset), "how": "not a DVC repository: nothing versioned"}]
    else:
        owned = _stage_outputs()
        rows = []
        if str(dataset) in owned:  # e.g. data/raw/synthetic: its stage runs first in the pipeline
            rows.append({"path": str(dataset), "how": f"output of stage {owned[str(dataset)]} (dvc.lock)"})
        elif dataset.is_dir():
            _dvc("add", "--quiet", str(dataset))
            rows.append({"path": str(dataset), "how": f"dvc add → {dataset}.dvc"})
        if clips.is_dir() and any(clips.iterdir()):
            try:
                _dvc("add", "--quiet", str(clips))
            except ValueError as exc:
                if "git-ignored" in str(exc):
                    raise ValueError(
                        f"{exc} (un-ignore {clips}.dvc in .gitignore to version the clips)"
                    ) from None
                raise
            n = sum(1 for _ in clips.rglob("*") if _.is_file())
            rows.append({"path": str(clips), "how": f"dvc add → {clips}.dvc ({n} clips)"})
    create_table_artifact(table=rows, key="retrain-data", description="Data versioned for this run")
    return [row["path"] for row in rows]


@task(retries=2, retry_delay_seconds=[10, 60], retry_condition_fn=_transient, task_run_name="repro-{stage}")
def reproduce(stage: str, params: Path) -> str:
    """One DVC stage: `dvc repro --single-item STAGE` when `dvc status --json` says it changed."""
    start = time.perf_counter()
    changed = stage_changed(stage)
    # evaluate's no-regression gates read the production model the ledger names, an input DVC cannot see:
    # a report DVC would reuse is rerun when it was compared with another production model than today's
    force = not changed and stage == "evaluate" and not _compared_with_production(params)
    log = _dvc("repro", "--single-item", stage, *(["--force"] if force else [])) if changed or force else ""
    outcome = "ran" if changed or force else "reused (unchanged)"
    seconds = time.perf_counter() - start
    tail = "\n".join(log.strip().splitlines()[-8:]) or "dvc status: up to date"
    create_markdown_artifact(
        markdown=f"### stage `{stage}`: {outcome} in {seconds:.0f} s\n```\n{tail}\n```",
        key="retrain-stage-" + re.sub(r"[^a-z0-9-]", "-", stage.lower()),  # artifact keys: a-z 0-9 -
        description=f"dvc repro {stage}",
    )
    get_run_logger().info("stage %s: %s in %.0f s", stage, outcome, seconds)
    return outcome


def stage_changed(stage: str) -> bool:
    """Whether DVC would run `stage`: its entry in `dvc status --json STAGE` (an empty object when it,
    and what it depends on, are up to date) — read as JSON, not by matching DVC's English."""
    return bool(json.loads(_dvc("status", "--json", stage) or "{}"))


def _compared_with_production(params: Path) -> bool:
    """Was reports/evaluation.json compared with the model the ledger names as production now?"""
    from config.params import load_params
    from release.ledger import open_ledger

    config = load_params(params)
    evaluation = config.layout().evaluation
    if not evaluation.is_file():
        return False
    recorded = json.loads(evaluation.read_text()).get("compared_with", "missing")
    entry = open_ledger(config.release).production_entry()
    return recorded == (None if entry is None else entry.get("model_version"))


@task
def read_evaluation(path: Path) -> dict:
    """The evaluate stage's report: metrics, baselines, subgroups and gates."""
    if not path.is_file():
        raise ValueError(f"{path}: no evaluation report (the DVC stage `evaluate` writes it)")
    report = json.loads(path.read_text())
    gates = report.get("gates")
    if not isinstance(gates, list) or not all(
        {"name", "value", "threshold", "passed"} <= set(g) for g in gates
    ):
        raise ValueError(f"{path}: `gates` must be a list of {{name, value, threshold, passed}}")
    create_table_artifact(table=gates, key="retrain-gates", description="Release gates of the evaluation")
    return report


@task
def register(report: dict, layout: RunLayout, settings: ReleaseConfig, params: dict) -> str:
    """Freeze the candidate's files and register it in the release ledger, signed by the run's key
    (state pending, or gates_failed)."""
    from flows.identity import signer_for
    from flows.versioning import data_version, git_commit
    from release.decisions import register_candidate
    from release.ledger import open_ledger, sha256_file
    from release.manifest import dvc_lock_hashes, run_files

    produced = {
        "evaluation.json": layout.evaluation,
        "reference.parquet": layout.monitoring_reference,
        "model_card.html": layout.model_card,
    }
    for name, path in produced.items():
        if not path.is_file():
            raise ValueError(f"{path}: no {name} (the DVC stage `evaluate` writes it)")
    files = run_files(layout.run_dir, **produced)
    weights = sha256_file(layout.encoder)
    version = str(report.get("model_version") or "unknown")
    ledger = open_ledger(settings)
    candidate_id = register_candidate(
        ledger,
        signer=signer_for(settings),
        files=files,
        model_version=version if version != "unknown" else f"{layout.run_dir.name}-{weights[:8]}",
        data_version=data_version(),
        git_commit=git_commit(),
        gates=report["gates"],
        metrics=report.get("metrics", {}),
        params=params,
        data_hashes=dvc_lock_hashes(),
    )
    summary = ledger.candidate(candidate_id)
    create_markdown_artifact(
        markdown=f"### candidate `{candidate_id}`\nregistered by {summary.initiator}; {len(files)} files "
        f"frozen (encoder sha256 `{weights[:16]}…`)",
        key="retrain-candidate",
        description="Release candidate registered in the ledger",
    )
    return candidate_id


@task
def open_approval_window() -> float:
    """When the reviewer's window opened (epoch s); cached per run, so a resumed run keeps its window."""
    return time.time()


@task(retries=2, retry_delay_seconds=[5, 30], retry_condition_fn=_transient)
def package(candidate_id: str, settings: ReleaseConfig, serving: ServingSettings) -> str:
    """Package the approved candidate from its frozen files (refused, naming the file, when one differs from
    the registered manifest, or when the service could not load them: serving.smoke), make it production
    and, when release.export_s3_url is set, export it."""
    from flows.identity import signer_for
    from release.ledger import open_ledger
    from release.package import export_model, package_candidate
    from serving.smoke import servable_check

    ledger = open_ledger(settings)
    tag = package_candidate(
        ledger, candidate_id, signer=signer_for(settings), model_name=settings.model_name,
        check=servable_check(serving),
    )  # fmt: skip
    exported = f"; exported to {export_model(tag, settings.export_s3_url)}" if settings.export_s3_url else ""
    create_markdown_artifact(
        markdown=f"### released `{tag}`\nproduction version: **{ledger.production()}**{exported}",
        key="retrain-release",
        description="Production model after this run",
    )
    return str(tag)
