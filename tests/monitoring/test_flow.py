"""The `monitor` flow against a real Prefect API (prefect_test_harness): on a degraded production window
it publishes its summary, emits `echojepa.drift.detected`, and prefect.yaml's retrain trigger creates one
retrain run; a second event inside the 24 h cooldown creates none (tests/flows/test_retrain's pattern)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from flows.monitor import ARTIFACT_KEY, monitor
from tests.flows.conftest import ROOT, prefect_api  # noqa: F401  (the module's Prefect server)
from tests.flows.test_retrain import wait_for
from tests.monitoring.conftest import DEGRADED_DAY, drift_deployments, flow_runs

pytestmark = pytest.mark.usefixtures("prefect_api")


def test_degraded_window_emits_the_event_and_the_trigger_creates_one_retrain_run(
    monitored: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import get_client
    from prefect.events import emit_event

    # given prefect.yaml's deployments (monitor is no longer skipped) and a sentinel on every drift event
    monkeypatch.chdir(ROOT)
    ids = drift_deployments(ROOT)
    assert set(ids) == {"retrain", "monitor", "sentinel"}
    retrain_id, monitor_id, sentinel_id = ids["retrain"], ids["monitor"], ids["sentinel"]
    with get_client(sync_client=True) as client:
        assert [s.schedule.cron for s in client.read_deployment(monitor_id).schedules] == ["0 6 * * *"]

    # when the monitor flow runs on the gain-drift day
    summary = monitor(
        params=monitored / "params.yaml",
        since=DEGRADED_DAY,
        until=str(pd.Timestamp(DEGRADED_DAY) + pd.Timedelta(days=1)),
        reference=str(monitored / "reference.parquet"),
    )

    # then: drift flagged, cause named, event emitted, artifact published, one retrain run created
    assert summary["alert"] and "quality_drift" in summary["reasons"] and "degradation" in summary["reasons"]
    assert summary["degradation"]["causes"][0] == "gain_drift" and summary["event_id"]
    (first,) = wait_for(lambda: flow_runs(retrain_id), what="a retrain run from the drift event")
    assert "initiator" not in first.parameters  # who registers is the serving host's key, not a parameter
    (seen,) = wait_for(lambda: flow_runs(sentinel_id), what="the sentinel's run")
    assert seen.parameters["resource"] == "echojepa.model.v1" and seen.parameters["causes"][0] == "gain_drift"
    with get_client(sync_client=True) as client:
        artifacts = [a for a in client.read_artifacts() if a.key == ARTIFACT_KEY]
    assert artifacts and "gain_drift" in str(artifacts[-1].data) and "ALERT" in str(artifacts[-1].data)

    # and a second drift event inside the 24 h cooldown starts no second retrain
    resource = {"prefect.resource.id": "echojepa.model.v1"}
    emit_event("echojepa.drift.detected", resource=resource, payload=summary["event_payload"])
    wait_for(lambda: len(flow_runs(sentinel_id)) == 2, what="the sentinel's second run")
    assert len(flow_runs(retrain_id)) == 1


def test_monitor_cli_with_a_missing_reference_fails_in_one_line(
    monitored: Path, capsys: pytest.CaptureFixture
) -> None:
    from flows.cli import main

    with pytest.raises(SystemExit) as exited:
        main(
            [
                "monitor",
                "--params",
                str(monitored / "params.yaml"),
                "--reference",
                str(monitored / "nope.parquet"),
            ]
        )
    assert exited.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"echojepa: error: reference {monitored / 'nope.parquet'} not found"
