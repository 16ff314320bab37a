"""`echojepa orchestrator up`: a local Prefect server serving the deployments of prefect.yaml."""

from __future__ import annotations

from pathlib import Path

from cyclopts import App

from flows.app import app

orchestrator_app = App(
    name="orchestrator", help="The local Prefect server and the deployments of prefect.yaml."
)
app.command(orchestrator_app)


@orchestrator_app.command
def up(*, prefect_yaml: Path = Path("prefect.yaml")) -> None:
    """Start (or reuse) a local Prefect server on 127.0.0.1 and serve the deployments of prefect.yaml.

    Reuses the API at PREFECT_API_URL (default http://127.0.0.1:4200/api) when it answers. Blocks:
    scheduled, event-triggered and UI-started runs execute here; Ctrl-C stops serving.

    Parameters
    ----------
    prefect_yaml
        Deployment file (retrain: weekly + on echojepa.drift.detected; monitor: daily).
    """
    from flows.orchestrator import up as orchestrator_up

    orchestrator_up(prefect_yaml)
