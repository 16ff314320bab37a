"""The demo's release step: a local Prefect API, the retrain flow up to its approval wait, a second
principal's signed waiver and approval through the CLI, packaging; and the retrain runs a drift event
starts later.

What a person would do runs as the subprocesses they would start (`echojepa retrain --key` as the demo
initiator; `echojepa release sign --key` and `release submit|approve` as the demo reviewer: two keys,
see demo.keys), against a Prefect server on 127.0.0.1 that the demo starts when none answers, so the real
wait / resume path is what the demo shows. What the demo reads in-process goes through the libraries: the
ledger (release.ledger), the BentoML store (release.package), the server (flows.orchestrator, flows.approval).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from config.layout import RunLayout
from config.params import Params
from demo.keys import REVIEWER, DemoKeys
from demo.report import Released
from demo.shell import echojepa, env_with
from release.events import CandidateState
from release.ledger import Ledger, open_ledger, sha256_file

APPROVAL_WAIT_S = 600.0
APPROVAL_COMMENT = "approved by the demo after reading the model card"


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
    packaged = ledger.candidate(current["candidate_id"]).manifest
    mine = [layout.encoder, *sorted(layout.probes_dir.glob("*/seed-*.pt"))]
    return bool(packaged) and all(
        packaged.get(str(p.relative_to(layout.run_dir))) == sha256_file(p) for p in mine if p.is_file()
    )


def release(console, api: str, params_file: Path, params: Params, keys: DemoKeys, reason: str) -> Released:
    """Run `echojepa retrain` (registered by the demo initiator's key) until it waits for a reviewer; the
    demo reviewer signs a waiver of any failed gate and the approval; wait for packaging.

    Skipped when production already serves this encoder and these probes (a re-run of an unchanged demo)."""
    from release.package import production_model

    layout, ledger = params.layout(), open_ledger(params.release)
    current = ledger.production_entry()
    if production_serves(ledger, layout) and production_model(ledger) is not None:
        console.print(
            f"[bold]release[/] production already serves this encoder and probes ({current['bento_tag']})"
        )
        return Released(current["bento_tag"], current["candidate_id"], reused=True)
    known = {c.candidate_id for c in ledger.candidates()}
    console.print(
        f"[bold]release[/] echojepa retrain --key {keys.initiator} (DVC stages are reused; the run waits "
        "for a reviewer)"
    )
    command = echojepa("retrain", "--params", str(params_file), "--key", str(keys.initiator))
    run = subprocess.Popen(command, env=env_with(PREFECT_API_URL=api))
    try:
        return _review_and_package(console, ledger, known, run, api, params_file, keys, reason)
    finally:
        if run.poll() is None:  # a failure or timeout above: don't leave the flow running
            run.terminate()


def _review_and_package(
    console, ledger: Ledger, known: set[str], run: subprocess.Popen, api: str, params_file: Path,
    keys: DemoKeys, reason: str,
) -> Released:  # fmt: skip
    """As the reviewer: waive the candidate's failed gates (if any), approve it; then wait for packaging."""
    candidate = _wait_for_waiting(
        ledger, known, run, api, (CandidateState.PENDING, CandidateState.GATES_FAILED)
    )
    failed = list(ledger.candidate(candidate).failed_gates)
    if failed:
        console.print(
            f"[bold yellow]release[/] {REVIEWER} waives failed gate(s) {', '.join(failed)}: {reason}"
        )
        waiver = _sign(keys, params_file, candidate, "--waive", *failed, "--reason", reason)
        _deliver("submit", waiver, params_file, api)
        _wait_for_waiting(ledger, known, run, api, (CandidateState.PENDING,))
    console.print(f"[bold]release[/] {REVIEWER} signs and delivers the approval of {candidate}")
    approval = _sign(keys, params_file, candidate, "--approve", "--comment", APPROVAL_COMMENT)
    _deliver("approve", approval, params_file, api)
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
    verified = ledger.verify()  # every signature, role and witness, as `echojepa ledger verify` checks
    if not verified.ok:
        raise ValueError(f"the ledger does not verify after the release: {verified}")
    summary = ledger.candidate(candidate)
    waived = {w["by"] for w in summary.waived_gates.values()}
    console.print(
        f"[bold]release[/] {entry['bento_tag']} is production: registered by {summary.initiator}, "
        f"approved by {summary.reviewer}"
        + (f", gates waived by {', '.join(sorted(waived))}" if waived else "")
        + "; the ledger verifies"
    )
    return Released(entry["bento_tag"], candidate, reused=False)


def _sign(keys: DemoKeys, params_file: Path, candidate: str, *args: str) -> str:
    """`echojepa release sign CANDIDATE ARGS --key <reviewer>`: the one-line signed decision it prints."""
    command = [*echojepa("release", "sign", candidate, *args), "--key", str(keys.reviewer)]
    done = subprocess.run(
        [*command, "--params", str(params_file)], env=env_with(), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise ValueError(f"echojepa release sign {candidate} failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip().splitlines()[-1]


def _deliver(verb: str, decision: str, params_file: Path, api: str) -> None:
    """`echojepa release submit|approve DECISION`: resumes the waiting run with the signed text."""
    command = echojepa("release", verb, decision, "--params", str(params_file))
    if subprocess.run(command, env=env_with(PREFECT_API_URL=api)).returncode != 0:
        raise ValueError(f"echojepa release {verb} failed (see above)")


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


def _wait_for_waiting(
    ledger: Ledger, known: set[str], run: subprocess.Popen, api: str, states: tuple[CandidateState, ...]
) -> str:
    """The id of the candidate the new run registered, once it is in one of `states` and its run waits."""
    deadline = time.monotonic() + APPROVAL_WAIT_S
    while time.monotonic() < deadline:
        if run.poll() is not None:
            raise ValueError(
                f"echojepa retrain ended (exit {run.returncode}) before waiting for a reviewer: "
                "see its output above"
            )
        fresh = [c for c in ledger.candidates() if c.candidate_id not in known and c.state in states]
        if fresh and _run_waits(fresh[-1].candidate_id, api):
            return fresh[-1].candidate_id
        time.sleep(1.0)
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
