"""Monitoring commands: `echojepa monitor` runs the monitor flow in this process, `echojepa monitor ui`
serves the Evidently dashboard of its workspace.

Heavy imports (Evidently ~4 s, Prefect) happen inside the commands, after params.yaml's `monitoring:`
section is validated, so a mistyped key fails at once in one line.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cyclopts import App

from config import PARAMS_FILE
from flows.app import app

monitor_app = App(
    name="monitor",
    help="Production monitoring: drift, image-quality degradation and delayed-label accuracy (Evidently).",
)
app.command(monitor_app)


@monitor_app.default
def monitor(
    *,
    since: str | None = None,
    until: str | None = None,
    current: list[Path] | None = None,
    reference: Path | None = None,
    params: Path = PARAMS_FILE,
) -> None:
    """Compare a production window with the production model's reference; alert on drift or degradation.

    Writes HTML + JSON reports under monitoring.reports/<run>/, adds the run to the Evidently workspace
    project, and emits `echojepa.drift.detected` when a check crosses its threshold (with the orchestrator
    running, that starts the retrain deployment). Runs the `monitor` flow against PREFECT_API_URL, or
    Prefect's ephemeral API when it is unset.

    Parameters
    ----------
    since
        Window start: ISO date/time (2026-11-28, 2026-11-28T06:00, UTC) or a span before --until (36h, 7d).
        Default: monitoring.window_days before --until.
    until
        Window end (default now).
    current
        Production-log parquet files or folders to monitor instead of serving.production_log's window.
    reference
        A reference parquet instead of the one packaged with the production model (release.ledger).
    params
        Parameter file (monitoring, serving.production_log, release.ledger, features.root).
    """
    from config.params import load_params

    load_params(params)  # a bad key fails here in one line, before Prefect starts
    from flows.monitor import monitor as monitor_flow

    state = monitor_flow(
        params=params,
        since=since,
        until=until,
        current=[str(p) for p in current] if current else None,
        reference=str(reference) if reference else None,
        return_state=True,
    )
    summary = state.result()  # raises the flow's own error (a one-line MonitoringError) when it failed
    if "skipped" in summary:
        print(f"monitor: skipped: {summary['skipped']}")
        return
    window = summary["window"]
    decision = f"ALERT ({', '.join(summary['reasons'])})" if summary["alert"] else "no alert"
    model = summary["model_version"]
    print(f"monitor {summary['run_id']}: {decision}; model {model}, {window['since']} → {window['until']}")
    causes = summary["degradation"]["causes"]
    if causes:
        print(f"  likely cause: {', '.join(causes)}")
    if summary.get("event_id"):
        print(f"  emitted echojepa.drift.detected ({summary['event_id']})")
    for unread in summary.get("skipped_files", []):
        print(f"  skipped unreadable log file {unread['path']} ({unread['error']})")
    print(f"  reports: {summary['report_dir']}")


@monitor_app.command
def ui(*, host: str = "127.0.0.1", port: int = 8000, params: Path = PARAMS_FILE) -> None:
    """Serve the monitoring dashboard: `evidently ui` on monitoring.workspace (Ctrl-C stops).

    The project and its panels are created first when missing, so the dashboard exists before the first
    monitor run.

    Parameters
    ----------
    host
        Address to bind (127.0.0.1: this machine only).
    port
        Port of the UI.
    params
        Parameter file (monitoring.workspace, monitoring.project).
    """
    from config.params import load_params
    from monitoring.dashboard import open_project

    config = load_params(params).monitoring
    _, project = open_project(config)
    workspace = config.workspace_path()
    print(f"Evidently UI on http://{host}:{port}/projects/{project.id} (workspace {workspace}; Ctrl-C stops)")
    command = [sys.executable, "-m", "evidently.cli", "ui", "--workspace", str(workspace)]
    try:
        subprocess.run([*command, "--host", host, "--port", str(port)], check=True)
    except subprocess.CalledProcessError as exc:
        raise OSError(f"evidently ui exited with {exc.returncode}") from None
    except KeyboardInterrupt:
        pass
