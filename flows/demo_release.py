"""The demo's release half: a local Prefect API, the retrain flow up to its approval wait, a reviewer's
approval through the CLI, packaging; then the served model and production traffic.

Everything runs as the subprocesses a person would start (`echojepa retrain`, `echojepa release approve`,
`echojepa serve`), against a Prefect server on 127.0.0.1 that the demo starts when none answers, so the
real wait / resume path and the real HTTP service are what the demo shows.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

DEMO_REVIEWER = "demo-reviewer"  # the run's initiator is the OS user; a reviewer must be someone else
APPROVAL_WAIT_S = 600.0


def echojepa(*args: str) -> list[str]:
    """The command line of `echojepa ARGS` in this interpreter's environment."""
    return [sys.executable, "-m", "flows.cli", *args]


def env_with(**extra: str) -> dict[str, str]:
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, **extra}


def prefect_api(console) -> tuple[str, subprocess.Popen | None]:
    """The Prefect API the demo uses: PREFECT_API_URL or 127.0.0.1:4200, started when it does not answer."""
    from flows.orchestrator import api_ready, api_url, start_server

    url = api_url()
    if api_ready(url):
        console.print(f"[bold]prefect[/] using the API at {url}")
        return url, None
    console.print(f"[bold]prefect[/] starting a local server at {url} (UI: {url.removesuffix('/api')})")
    return url, start_server(url)


def _same_as_production(ledger, run_dir: Path) -> bool:
    """Do the encoder and probes in `run_dir` equal the files packaged for the production model?"""
    from release.ledger import sha256_file

    current = ledger.production_entry()
    if current is None:
        return False
    entries = ledger.candidate(current["candidate_id"]).get("entries", [])
    packaged = next((e.get("files") or {} for e in entries if e.get("event") == "packaged"), {})
    mine = [run_dir / "encoder.pt", *sorted((run_dir / "probes").glob("*.pt"))]
    return bool(packaged) and all(
        packaged.get(str(p.relative_to(run_dir))) == sha256_file(p) for p in mine if p.is_file()
    )


def release(console, api: str, params: Path, run_dir: Path, waive: list[str], reason: str) -> dict:
    """Run `echojepa retrain` until it waits for a reviewer, approve as DEMO_REVIEWER, wait for packaging.

    Skipped when production already serves this encoder and these probes (a re-run of an unchanged demo)."""
    from flows.commands_ledger import release_ledger
    from release.ledger import Ledger
    from release.package import production_model

    ledger: Ledger = release_ledger(params)
    current = ledger.production_entry()
    if _same_as_production(ledger, run_dir) and production_model(ledger) is not None:
        console.print(
            f"[bold]release[/] production already serves this encoder and probes ({current['bento_tag']})"
        )
        return {"tag": current["bento_tag"], "candidate_id": current["candidate_id"], "reused": True}
    known = {c["candidate_id"] for c in ledger.candidates()}
    console.print("[bold]release[/] echojepa retrain (DVC stages are reused; the run waits for a reviewer)")
    command = echojepa("retrain", "--params", str(params))
    for name in waive:
        command += ["--waive-gate", name]
    if waive:
        command += ["--waiver-reason", reason]
    run = subprocess.Popen(command, env=env_with(PREFECT_API_URL=api))
    try:
        return _approve_and_package(console, ledger, known, run, api, params)
    finally:
        if run.poll() is None:  # a failure or timeout above: don't leave the flow running
            run.terminate()


def _approve_and_package(
    console, ledger, known: set[str], run: subprocess.Popen, api: str, params: Path
) -> dict:
    """Approve the candidate the run registered once it waits, then wait for the packaging to finish."""
    from flows.commands_ledger import release_ledger

    env = env_with(PREFECT_API_URL=api)
    candidate = _wait_for_pending(ledger, known, run, api)
    console.print(
        f"[bold]release[/] candidate {candidate} waits; approving as reviewer '{DEMO_REVIEWER}': "
        f"echojepa release approve {candidate} --reviewer {DEMO_REVIEWER}"
    )
    approve = echojepa("release", "approve", candidate, "--reviewer", DEMO_REVIEWER, "--params", str(params))
    approve += ["--comment", "approved by the demo after reading the model card"]
    if subprocess.run(approve, env=env).returncode != 0:
        raise ValueError(f"echojepa release approve {candidate} failed (see above)")
    try:
        code = run.wait(timeout=APPROVAL_WAIT_S)
    except subprocess.TimeoutExpired:
        raise ValueError(
            f"echojepa retrain did not finish within {APPROVAL_WAIT_S:.0f} s of the approval"
        ) from None
    if code != 0:
        raise ValueError("echojepa retrain failed after the approval (see its output above)")
    entry = release_ledger(params).production_entry()
    if entry is None or entry["candidate_id"] != candidate:
        raise ValueError(f"candidate {candidate} was approved but is not production")
    return {"tag": entry["bento_tag"], "candidate_id": candidate, "reused": False}


def apply_deployments(api: str) -> dict[str, object]:
    """prefect.yaml's deployments (with the retrain trigger) registered on the demo's server, not served:
    a run they start waits there until `echojepa orchestrator up` serves them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.orchestrator import deployments_from_yaml

    with temporary_settings({PREFECT_API_URL: api}):
        return {d.name: d.apply() for d in deployments_from_yaml(Path("prefect.yaml"))}


def triggered_runs(api: str, deployment_id, since: float) -> list:
    """Flow runs of a deployment created after `since` (epoch s): those its event trigger started."""
    from datetime import UTC, datetime

    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    after = datetime.fromtimestamp(since, UTC)
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    return [r for r in runs if r.created and r.created >= after and not r.auto_scheduled]


def _wait_for_pending(ledger, known: set[str], run: subprocess.Popen, api: str) -> str:
    """The id of the candidate the new run registered, once the run waits for its reviewer."""
    deadline = time.monotonic() + APPROVAL_WAIT_S
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise ValueError(
                f"echojepa retrain ended (exit {run.returncode}) before waiting for a reviewer: "
                "see its output above (failed gates are listed there)"
            )
        fresh = [c for c in ledger.candidates() if c["candidate_id"] not in known]
        pending = [c for c in fresh if c["state"] == "pending"]
        if pending and _run_waits(pending[-1]["candidate_id"], api):
            return pending[-1]["candidate_id"]
        time.sleep(2.0)
    raise ValueError(f"no candidate waited for a reviewer within {APPROVAL_WAIT_S:.0f} s")


def _run_waits(candidate_id: str, api: str) -> bool:
    """Is a flow run tagged with this candidate paused (waiting for its reviewer)?"""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.approval import find_waiting_run

    try:
        with temporary_settings({PREFECT_API_URL: api}):
            return find_waiting_run(candidate_id, settle_s=0.0) is not None
    except Exception:  # the API is busy registering the pause: ask again on the next poll
        return False
