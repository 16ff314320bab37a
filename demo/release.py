"""The demo's release step: a local Prefect API, the retrain flow up to its approval wait, a reviewer's
approval through the CLI, packaging; and the retrain runs a drift event starts later.

What a person would do runs as the subprocesses they would start (`echojepa retrain`, `echojepa release
approve`), against a Prefect server on 127.0.0.1 that the demo starts when none answers, so the real wait /
resume path is what the demo shows. What the demo reads in-process goes through the libraries: the ledger
(release.ledger), the BentoML store (release.package), the server (flows.orchestrator, flows.approval).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from config.layout import RunLayout
from demo.report import Released
from demo.shell import echojepa, env_with
from release.ledger import Ledger, sha256_file

DEMO_REVIEWER = "demo-reviewer"  # the run's initiator is the OS user; a reviewer must be someone else
APPROVAL_WAIT_S = 600.0
PENDING = "pending"  # release.ledger's state of a registered candidate awaiting its reviewer


def prefect_api(console) -> tuple[str, subprocess.Popen | None]:
    """The Prefect API the demo uses: PREFECT_API_URL or 127.0.0.1:4200, started when it does not answer."""
    from flows.orchestrator import api_ready, api_url, start_server

    url = api_url()
    if api_ready(url):
        console.print(f"[bold]prefect[/] using the API at {url}")
        return url, None
    console.print(f"[bold]prefect[/] starting a local server at {url} (UI: {url.removesuffix('/api')})")
    return url, start_server(url)


def production_serves(ledger: Ledger, layout: RunLayout) -> bool:
    """Do the encoder and the served probes of the run equal the files packaged for the production model?"""
    current = ledger.production_entry()
    if current is None:
        return False
    entries = ledger.candidate(current["candidate_id"]).get("entries", [])
    packaged = next((e.get("files") or {} for e in entries if e.get("event") == "packaged"), {})
    mine = [layout.encoder, *sorted(layout.probes_dir.glob("*/seed-*.pt"))]
    return bool(packaged) and all(
        packaged.get(str(p.relative_to(layout.run_dir))) == sha256_file(p) for p in mine if p.is_file()
    )


def release(
    console, api: str, params_file: Path, layout: RunLayout, waive: list[str], reason: str
) -> Released:
    """Run `echojepa retrain` until it waits for a reviewer, approve as DEMO_REVIEWER, wait for packaging.

    Skipped when production already serves this encoder and these probes (a re-run of an unchanged demo)."""
    from release.package import production_model

    ledger = Ledger(layout.ledger)
    current = ledger.production_entry()
    if production_serves(ledger, layout) and production_model(ledger) is not None:
        console.print(
            f"[bold]release[/] production already serves this encoder and probes ({current['bento_tag']})"
        )
        return Released(current["bento_tag"], current["candidate_id"], reused=True)
    known = {c["candidate_id"] for c in ledger.candidates()}
    console.print("[bold]release[/] echojepa retrain (DVC stages are reused; the run waits for a reviewer)")
    command = echojepa("retrain", "--params", str(params_file))
    for name in waive:
        command += ["--waive-gate", name]
    if waive:
        command += ["--waiver-reason", reason]
    run = subprocess.Popen(command, env=env_with(PREFECT_API_URL=api))
    try:
        return _approve_and_package(console, ledger, known, run, api, params_file)
    finally:
        if run.poll() is None:  # a failure or timeout above: don't leave the flow running
            run.terminate()


def _approve_and_package(
    console, ledger: Ledger, known: set[str], run: subprocess.Popen, api: str, params_file: Path
) -> Released:
    """Approve the candidate the run registered once it waits, then wait for the packaging to finish."""
    env = env_with(PREFECT_API_URL=api)
    candidate = _wait_for_pending(ledger, known, run, api)
    console.print(
        f"[bold]release[/] candidate {candidate} waits; approving as reviewer '{DEMO_REVIEWER}': "
        f"echojepa release approve {candidate} --reviewer {DEMO_REVIEWER}"
    )
    approve = echojepa(
        "release", "approve", candidate, "--reviewer", DEMO_REVIEWER, "--params", str(params_file)
    )
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
    entry = ledger.production_entry()  # read again: the retrain process appended the promotion
    if entry is None or entry["candidate_id"] != candidate:
        raise ValueError(f"candidate {candidate} was approved but is not production")
    return Released(entry["bento_tag"], candidate, reused=False)


def apply_deployments(api: str, prefect_yaml: Path = Path("prefect.yaml")) -> dict[str, object]:
    """prefect.yaml's deployments (with the retrain trigger) registered on the demo's server, not served:
    a run they start waits there until `echojepa orchestrator up` serves them."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.orchestrator import deployments_from_yaml

    with temporary_settings({PREFECT_API_URL: api}):
        return {d.name: d.apply() for d in deployments_from_yaml(prefect_yaml)}


def triggered_runs(api: str, deployment_id, since: float) -> tuple[str, ...]:
    """Flow runs of a deployment created after `since` (epoch s), as "name (state)": those its event
    trigger started."""
    from datetime import UTC, datetime

    from prefect import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    after = datetime.fromtimestamp(since, UTC)
    with temporary_settings({PREFECT_API_URL: api}), get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id]))
        )
    fresh = [r for r in runs if r.created and r.created >= after and not r.auto_scheduled]
    return tuple(f"{r.name} ({r.state_name})" for r in fresh)


def _wait_for_pending(ledger: Ledger, known: set[str], run: subprocess.Popen, api: str) -> str:
    """The id of the candidate the new run registered, once the run waits for its reviewer."""
    deadline = time.monotonic() + APPROVAL_WAIT_S
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise ValueError(
                f"echojepa retrain ended (exit {run.returncode}) before waiting for a reviewer: "
                "see its output above (failed gates are listed there)"
            )
        fresh = [c for c in ledger.candidates() if c["candidate_id"] not in known]
        pending = [c for c in fresh if c["state"] == PENDING]
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
