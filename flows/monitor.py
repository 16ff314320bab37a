"""The `monitor` flow: last production window → drift / degradation / delayed-label checks → artifact →
`echojepa.drift.detected` when a check crosses its threshold, which the `retrain` deployment's trigger
turns into a retrain run (24 h cooldown, prefect.yaml).

    echojepa monitor                       # in-process, against PREFECT_API_URL or Prefect's ephemeral API
    echojepa orchestrator up               # serves the daily `monitor` deployment (06:00 UTC)

The work is monitoring.run.run_monitoring; the tasks here only call it, publish and emit.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from config import PARAMS_FILE
from monitoring.data import InsufficientWindow
from monitoring.run import MonitoringResult

ARTIFACT_KEY = "monitoring-summary"


@task
def monitor_window(
    params: Path, since: str | None, until: str | None, current: list[str] | None, reference: str | None
) -> MonitoringResult | str:
    """Run the checks on the window; a window below monitoring.min_window returns the reason instead."""
    from config.params import load_params
    from monitoring.run import run_monitoring

    try:
        return run_monitoring(
            load_params(params),
            since=since,
            until=until,
            current=[Path(p) for p in current] if current else None,
            reference_path=Path(reference) if reference else None,
        )
    except InsufficientWindow as exc:
        return str(exc)


@task
def publish(outcome: MonitoringResult | str) -> None:
    """The run's markdown summary as a Prefect artifact (or why it concluded nothing)."""
    from monitoring.report import summary_markdown

    if isinstance(outcome, str):
        markdown, description = f"### Monitoring skipped\n{outcome}\n", "Too few production rows"
    else:
        markdown = summary_markdown(outcome)
        description = "Drift alert" if outcome.alert else "No drift"
    create_markdown_artifact(markdown=markdown, key=ARTIFACT_KEY, description=description)


@task(retries=2, retry_delay_seconds=[1, 5])  # the events API is I/O
def emit_drift_event(result: MonitoringResult) -> str | None:
    """Emit `echojepa.drift.detected` on resource echojepa.model.<version>; returns the event id."""
    from prefect.events import emit_event

    event = emit_event(
        event=result.config.event,
        resource={
            "prefect.resource.id": f"echojepa.model.{result.model_version}",
            "prefect.resource.name": result.model_version,
        },
        payload=result.event_payload(),
    )
    return None if event is None else str(event.id)


@flow(name="monitor", log_prints=True)
def monitor(
    params: Path = PARAMS_FILE,
    since: str | None = None,
    until: str | None = None,
    current: list[str] | None = None,
    reference: str | None = None,
) -> dict:
    """Compare the production window with the production model's reference; alert on drift or degradation.

    Args:
        params: parameter file (monitoring, serving.production_log, release.ledger, features.root).
        since: window start (ISO time, or a span before `until` like "36h"); default monitoring.window_days.
        until: window end (default now).
        current: production-log parquet files or folders to use instead of the log's window.
        reference: a reference parquet instead of the production model's packaged one.
    """
    logger = get_run_logger()
    outcome = monitor_window(params, since, until, current, reference)
    publish(outcome)
    if isinstance(outcome, str):
        logger.warning(outcome)
        return {"skipped": outcome}
    summary = outcome.as_dict()
    if outcome.alert:
        summary["event_id"] = emit_drift_event(outcome)
        logger.warning("drift alert (%s): event %s emitted", ", ".join(outcome.reasons), outcome.config.event)
    logger.info("reports in %s", outcome.report_dir)
    return summary
