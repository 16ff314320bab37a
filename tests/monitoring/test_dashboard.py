"""The Evidently workspace project: its panels, idempotent creation, and runs added to it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from monitoring.dashboard import DESCRIPTION, add_runs, open_project, panels
from tests.monitoring.conftest import config_under

REQUIRED = (
    "Drift share of image-quality metrics",
    "Per-metric drift (p-value)",
    "Mean predicted EF",
    "Quality warnings by cause",
    "Delayed-label EF MAE",
    "Delayed-label EF MAE by device and cohort",
    "Embedding drift (MMD²)",
)


def test_project_is_created_once_with_every_panel(tmp_path: Path) -> None:
    config = config_under(tmp_path)
    workspace, project = open_project(config)
    titles = [p.title for p in project.dashboard.model().panels]
    assert titles == [p.title for p in panels(config)]
    assert set(REQUIRED) <= set(titles)
    per_metric = next(p for p in project.dashboard.model().panels if p.title == "Per-metric drift (p-value)")
    assert [v.metric_labels["column"] for v in per_metric.values] == list(config.drift_columns)
    # when opened again: the same project, no duplicated panel
    _, again = open_project(config)
    assert again.id == project.id and len(again.dashboard.model().panels) == len(titles)
    assert [p.name for p in workspace.list_projects()] == [config.project]


def test_panels_missing_from_an_existing_project_are_added(tmp_path: Path) -> None:
    from evidently.ui.workspace import Workspace

    config = config_under(tmp_path)
    config.workspace_path().mkdir(parents=True)
    older = Workspace(str(config.workspace_path())).create_project(config.project, description=DESCRIPTION)
    older.dashboard.add_panel(panels(config)[2])  # a project from a release that had one panel
    _, project = open_project(config)
    assert project.id == older.id
    assert sorted(p.title for p in project.dashboard.model().panels) == sorted(
        p.title for p in panels(config)
    )


def test_runs_are_added_to_the_project(tmp_path: Path) -> None:
    from evidently import Report
    from evidently.metrics import RowCount

    config = config_under(tmp_path)
    day = [
        Report([RowCount()]).run(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), None, tags=["drift"]) for _ in range(2)
    ]
    project_id, snapshot_ids = add_runs(config, day)
    workspace, _ = open_project(config)
    assert len(snapshot_ids) == 2
    assert sorted(map(str, workspace.list_runs(project_id))) == sorted(snapshot_ids)
