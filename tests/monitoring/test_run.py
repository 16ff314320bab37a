"""A whole monitor run on synthetic production logs: decision, event payload, files, dashboard runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.monitoring.conftest import CLEAN_DAY, DEGRADED_DAY, LABEL_ERROR


def test_clean_day_raises_no_alert(two_runs) -> None:
    _, (clean, _) = two_runs
    assert not clean.alert and clean.reasons == ()
    assert clean.model_version == "v1"  # an explicit reference takes the window's model version
    assert clean.drift.rows == 24 and not clean.drift.quality_detected
    assert not clean.degradation.degraded and clean.degradation.causes == ()


def test_delayed_labels_are_joined_per_device_and_cohort(two_runs) -> None:
    # the day-one studies got EF labels on day two: |error| = LABEL_ERROR each, 12 per device
    _, (clean, degraded) = two_runs
    for result in (clean, degraded):  # day two's run looks back 30 days: the same 24 labelled studies
        assert result.labels.n_labelled == 24 and result.labels.mae == pytest.approx(LABEL_ERROR, abs=1e-4)
        assert not result.labels.alert and result.labels.limit == 12.0  # no evaluated MAE: label_mae_max
    assert clean.labels.n_predictions == 24 and degraded.labels.n_predictions == 48
    assert {k: v["n"] for k, v in clean.labels.by_device.items()} == {"sim-a": 12, "sim-b": 12}
    assert list(clean.labels.by_cohort) == ["adult"] and clean.labels.daily[0]["date"] == CLEAN_DAY


def test_gain_drift_day_alerts_and_names_the_cause(two_runs) -> None:
    _, (_, degraded) = two_runs
    assert degraded.alert
    assert degraded.reasons == ("quality_drift", "embedding_drift", "degradation")
    assert degraded.degradation.causes[0] == "gain_drift" and degraded.degradation.share > 0.8
    payload = degraded.event_payload()
    assert payload["model_version"] == "v1" and payload["causes"][0] == "gain_drift"
    assert {"brightness", "contrast", "embedding"} <= set(payload["drifted"])
    assert payload["window"]["since"].startswith(DEGRADED_DAY) and payload["window"]["rows"] == 24
    json.dumps(payload)  # what emit_event sends must serialise


def test_each_run_writes_its_reports_and_summary(two_runs) -> None:
    _, (_, degraded) = two_runs
    folder = Path(degraded.report_dir)
    assert {p.name for p in folder.iterdir()} == {
        "drift.html",
        "drift.json",
        "labels.html",
        "labels.json",
        "result.json",
        "summary.md",
        "config.yaml",
    }
    result = json.loads((folder / "result.json").read_text())
    assert result["alert"] and result["event_payload"]["causes"][0] == "gain_drift"
    summary = (folder / "summary.md").read_text()
    assert "ALERT (quality_drift, embedding_drift, degradation)" in summary
    assert "gain_drift: overall gain too low" in summary
    assert "| delayed-label EF MAE | 4.00 on 24 labelled of 48 predictions | ≤ 12.0 | ok |" in summary
    assert "| device sim-a | 12 | 4.00 |" in summary
    assert (folder / "drift.html").stat().st_size > 50_000  # Evidently's self-contained HTML


def test_runs_land_in_the_workspace_project(two_runs) -> None:
    from evidently.ui.workspace import Workspace

    root, (clean, degraded) = two_runs
    workspace = Workspace(str(root / "workspace"))
    (project,) = workspace.list_projects()
    assert str(project.id) == clean.project_id == degraded.project_id
    assert len(workspace.list_runs(project.id)) == 4  # a drift and a labels snapshot per run
