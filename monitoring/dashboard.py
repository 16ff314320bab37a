"""The Evidently workspace project and its dashboard: what an operator watches in `evidently ui`.

Each monitor run adds its snapshots (tag "drift": the window against the reference; tag "labels": the
delayed-label errors) and every panel plots one metric of those snapshots over time. Creating the project
is idempotent: a panel whose title is already on the dashboard is not added again, so a panel added in a
later release appears on an existing project without duplicating the others.

    evidently ui --workspace monitoring/workspace --host 127.0.0.1      # or: echojepa monitor ui
"""

from __future__ import annotations

from pathlib import Path

from monitoring.config import MonitoringConfig
from monitoring.drift import VIEWS
from ultrasound.perturbations import PERTURBATION_KINDS

DESCRIPTION = (
    "EchoJEPA production monitoring: image-quality and prediction drift against the production model's "
    "reference, degradation causes, delayed-label EF accuracy"
)


def panels(config: MonitoringConfig) -> list:
    """The dashboard panels, in display order (titles are their identity)."""
    from evidently.sdk.models import PanelMetric as M
    from evidently.sdk.panels import bar_plot_panel, counter_panel, line_plot_panel

    drift = ["drift"]
    return [
        counter_panel(
            "Videos in the last window", [M(legend="rows", metric="RowCount", tags=drift)], size="half"
        ),
        counter_panel(
            "Clips flagged by the cause classifier",
            [M(legend="flagged", metric="SumValue", metric_labels={"column": "degraded"})],
            size="half",
        ),
        line_plot_panel(
            "Drift share of image-quality metrics",
            [M(legend="share drifted", metric="DriftedColumnsCount", metric_labels={"value_type": "share"})],
            description=f"window drifts at ≥ {config.drift_share:.0%} of the tested metrics",
        ),
        line_plot_panel(
            "Per-metric drift (p-value)",
            [M(legend=c, metric="ValueDrift", metric_labels={"column": c}) for c in config.drift_columns],
            description=f"{config.drift_method} p-value; a metric drifts below {config.drift_threshold}",
        ),
        line_plot_panel(
            "Mean predicted EF",
            [M(legend="mean EF (%)", metric="MeanValue", metric_labels={"column": "ef"})],
            size="half",
        ),
        line_plot_panel(
            "View mix",
            [
                # Evidently stores a CategoryCount's categories as the text of their list
                M(
                    legend=v,
                    metric="CategoryCount",
                    metric_labels={"categories": str([v]), "value_type": "share"},
                )
                for v in VIEWS
            ],
            size="half",
        ),
        bar_plot_panel(
            "Quality warnings by cause",
            [
                M(legend=k, metric="SumValue", metric_labels={"column": f"cause_{k}"})
                for k in PERTURBATION_KINDS
            ],
            description="clips per likely cause named by the shared cause classifier",
            stacked=True,
        ),
        line_plot_panel(
            "Embedding drift (MMD²)",
            [M(legend="MMD²", metric="EmbeddingsDrift")],
            description=f"drift above {config.embedding_mmd_threshold}",
            size="half",
        ),
        line_plot_panel(
            "Prediction drift (p-value)",
            [M(legend=c, metric="ValueDrift", metric_labels={"column": c}) for c in ("ef", "view")],
            description=f"EF: KS, view mix: chi-square; drift below {config.prediction_threshold}",
            size="half",
        ),
        line_plot_panel(
            "Delayed-label EF MAE",
            [M(legend="EF MAE", metric="MeanValue", metric_labels={"column": "abs_error"}, tags=["labels"])],
            size="half",
        ),
        line_plot_panel(
            "Delayed-label EF MAE by device and cohort",
            [
                M(
                    legend="{{label}}",
                    metric="GroupByMetric",
                    metric_labels={"column_name": key},
                    tags=["labels"],
                )
                for key in ("device", "cohort")
            ],
            size="half",
        ),
    ]


def open_project(config: MonitoringConfig, base: Path | None = None):
    """(workspace, project) for monitoring.workspace / monitoring.project, created with its dashboard when
    absent; missing panels are added to an existing project."""
    from evidently.ui.workspace import Workspace

    path = config.workspace_path(base)
    path.mkdir(parents=True, exist_ok=True)
    workspace = Workspace(str(path))
    found = workspace.search_project(config.project)
    project = found[0] if found else workspace.create_project(config.project, description=DESCRIPTION)
    present = {p.title for p in project.dashboard.model().panels}
    for panel in panels(config):
        if panel.title not in present:
            project.dashboard.add_panel(panel)
    return workspace, project


def add_runs(config: MonitoringConfig, snapshots: list, base: Path | None = None) -> tuple[str, list[str]]:
    """Add snapshots as runs of the project; returns (project id, snapshot ids)."""
    workspace, project = open_project(config, base)
    refs = [workspace.add_run(project.id, snapshot, include_data=False) for snapshot in snapshots]
    return str(project.id), [str(ref.id) for ref in refs]
