"""Done-when: serve the production model, send clean then degraded traffic, run the monitor flow; drift is
flagged with its cause, the event is emitted, prefect.yaml's trigger creates one retrain run, and a second
event inside the cooldown creates none. Runs only where serving/ exists (the Serving issue)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pandas as pd
import pytest

pytest.importorskip("serving.service", reason="serving/ (BentoML service) is not built yet")

from flows.monitor import monitor
from monitoring.data import read_production_log
from tests.flows.conftest import ROOT, prefect_api  # noqa: F401  (the module's Prefect server)
from tests.flows.test_retrain import wait_for
from tests.monitoring.conftest import drift_deployments, flow_runs
from tests.monitoring.test_ui import free_port
from tests.packaged import bento_store, write_params

pytestmark = pytest.mark.usefixtures("prefect_api")

# LEAD: what `bentoml serve` starts and where videos are posted; fix here if serving renames them.
SERVICE = "serving.service:EchoJEPA"
PREDICT = "/predict"
REQUESTS = 12  # per phase; monitoring.min_window is lowered to 10 below
KIND = "gain_drift"


@dataclass
class Traffic:
    params: Path
    log: Path
    start: pd.Timestamp  # clean traffic from here ...
    switch: pd.Timestamp  # ... degraded traffic from here
    end: pd.Timestamp


def _post(url: str, video: Path) -> None:
    files = {"video": (video.name, video.read_bytes(), "video/x-msvideo")}
    response = httpx.post(
        url + PREDICT, files=files, data={"device": "sim-a", "cohort": "adult"}, timeout=120
    )
    assert response.status_code == 200, response.text[:300]


@pytest.fixture(scope="module")
def traffic(packaged_model, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Traffic]:
    """`bentoml serve` of the packaged production model; REQUESTS clean, then REQUESTS gain-drifted calls."""
    root = tmp_path_factory.mktemp("end_to_end")
    params = write_params(
        root / "params.yaml",
        base=packaged_model.params,
        serving={"production_log": str(root / "production"), "flush_seconds": 0.2},
        monitoring={"workspace": str(root / "workspace"), "reports": str(root / "reports"), "min_window": 10},
    )
    port = free_port()
    bentoml = Path(sys.executable).parent / "bentoml"
    command = [str(bentoml), "serve", SERVICE, "--host", "127.0.0.1", "--port", str(port)]
    with (root / "server.log").open("wb") as out:
        server = subprocess.Popen(
            command,
            cwd=ROOT,
            env=os.environ | packaged_model.env(params),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _ready(url, server), timeout=180, what=f"the model server ({root / 'server.log'})")
        start = pd.Timestamp.now(tz="UTC")
        for i in range(REQUESTS):
            _post(url, packaged_model.clean[i % len(packaged_model.clean)])
        switch = pd.Timestamp.now(tz="UTC")
        for _ in range(REQUESTS):
            _post(url, packaged_model.perturbed[KIND])
        end = pd.Timestamp.now(tz="UTC") + pd.Timedelta(seconds=1)
        log = root / "production"
        wait_for(lambda: _logged(log, start, end) == 2 * REQUESTS, what="the production log rows")
        yield Traffic(params, log, start, switch, end)
    finally:
        os.killpg(server.pid, signal.SIGINT)  # graceful: bentoml and its workers flush and stop
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def _ready(url: str, server: subprocess.Popen) -> bool:
    if server.poll() is not None:
        raise AssertionError(f"the model server exited with {server.returncode}")
    try:
        return httpx.get(url + "/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _logged(log: Path, start: pd.Timestamp, end: pd.Timestamp) -> int:
    time.sleep(0.2)
    return len(read_production_log(log, start, end)) if log.is_dir() else 0


def test_degraded_traffic_is_flagged_and_triggers_one_retrain(
    traffic: Traffic, packaged_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.events import emit_event

    served = read_production_log(traffic.log, traffic.start, traffic.end)
    assert len(served) == 2 * REQUESTS
    degraded = served[served.time >= traffic.switch]
    warned = degraded.warnings.str.split(",").str[0]
    assert len(degraded) == REQUESTS and (warned != "").all()  # serving warned on every degraded request
    # One sample video per kind, so the cause is whatever the shared classifier names for that video
    # (its per-kind accuracy over many videos is benchmarks/bench_monitoring.py's business): the monitor
    # must name the same.
    expected = warned.mode().iloc[0]
    monkeypatch.chdir(ROOT)
    ids = drift_deployments(ROOT)
    monkeypatch.setenv("BENTOML_HOME", str(packaged_model.bento_home))
    with bento_store(packaged_model.bento_home):  # the reference comes from the production model
        summary = monitor(
            params=traffic.params, since=traffic.switch.isoformat(), until=traffic.end.isoformat()
        )
    assert summary["alert"] and "degradation" in summary["reasons"]
    assert summary["model_version"] == packaged_model.model_version
    assert summary["degradation"]["causes"][0] == expected and summary["event_id"]
    (first,) = wait_for(lambda: flow_runs(ids["retrain"]), what="a retrain run from the drift event")
    assert "initiator" not in first.parameters  # who registers is the serving host's key, not a parameter
    (seen,) = wait_for(lambda: flow_runs(ids["sentinel"]), what="the sentinel's run")
    assert seen.parameters["resource"] == f"echojepa.model.{packaged_model.model_version}"
    resource = {"prefect.resource.id": seen.parameters["resource"]}
    emit_event("echojepa.drift.detected", resource=resource, payload=summary["event_payload"])
    wait_for(lambda: len(flow_runs(ids["sentinel"])) == 2, what="the sentinel's second run")
    assert len(flow_runs(ids["retrain"])) == 1  # inside the 24 h cooldown
