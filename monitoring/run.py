"""One monitor run: a production window against the production model's reference → drift, degradation,
delayed-label accuracy, reports, dashboard runs and the alert decision (no prefect here: flows/monitor.py
wraps this and emits the event).

    from monitoring.run import run_monitoring
    result = run_monitoring(load_params(), since="2026-11-28", until="2026-11-29")
    result.alert, result.reasons, result.event_payload()
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd

from config.params import Params
from features.config import FeatureConfig
from monitoring.config import MonitoringConfig
from monitoring.data import (
    InsufficientWindow,
    MonitoringError,
    Reference,
    SkippedFile,
    check_columns,
    production_reference,
    read_current,
    read_production_log,
    read_reference,
    window_bounds,
)
from monitoring.degradation import DegradationVerdict, clip_verdicts, degradation_verdict, top_causes
from monitoring.drift import DriftSummary, drift_report
from monitoring.labels import LabelAccuracy, join_labels, label_accuracy, labels_report, read_ef_labels


@dataclass(frozen=True)
class MonitoringResult:
    """Everything one run found and decided."""

    run_id: str
    model_version: str
    reference_source: str
    since: pd.Timestamp
    until: pd.Timestamp
    drift: DriftSummary
    degradation: DegradationVerdict
    labels: LabelAccuracy
    reasons: tuple[str, ...]  # the monitoring.alert_on checks that fired
    report_dir: str
    config: MonitoringConfig
    project_id: str | None = None
    skipped_files: tuple[SkippedFile, ...] = ()  # unreadable log files left out of the window

    @property
    def alert(self) -> bool:
        return bool(self.reasons)

    def event_payload(self) -> dict:
        """The payload of `echojepa.drift.detected` (Interfaces: drifted metrics, causes, window)."""
        d = self.drift
        drifted = list(d.quality_drifted)
        limit = self.config.prediction_threshold
        drifted += [name for name, p in (("ef", d.ef_p), ("view", d.view_p)) if p is not None and p < limit]
        drifted += ["embedding"] if d.embedding_detected else []
        return {
            "model_version": self.model_version,
            "reasons": list(self.reasons),
            "drifted": drifted,
            "causes": list(self.degradation.causes),
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat(), "rows": d.rows},
            "drift_share": round(d.quality_share, 4),
            "degraded_share": round(self.degradation.share, 4),
            "mmd": d.mmd,
            "label_mae": self.labels.mae,
            "run_id": self.run_id,
            "report": self.report_dir,
        }

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "model_version": self.model_version,
            "reference": self.reference_source,
            "window": {"since": self.since.isoformat(), "until": self.until.isoformat()},
            "alert": self.alert,
            "reasons": list(self.reasons),
            "drift": self.drift.as_dict(),
            "degradation": self.degradation.as_dict(),
            "labels": self.labels.as_dict(),
            "event_payload": self.event_payload() if self.alert else None,
            "report_dir": self.report_dir,
            "project_id": self.project_id,
            "skipped_files": [{"path": f.path, "error": f.error} for f in self.skipped_files],
        }


def _window(
    current: Sequence[Path] | None,
    since,
    until,
    config: MonitoringConfig,
    log_root: Path,
    skipped: list[SkippedFile],
) -> tuple[pd.DataFrame, pd.Timestamp, pd.Timestamp]:
    """(rows, since, until): explicit files (optionally cut to --since/--until) or the log's window."""
    if current:
        rows = read_current(list(current), skipped)
        if rows.empty:
            raise MonitoringError(f"no production rows in {', '.join(map(str, current))}")
        start = pd.Timestamp(rows.time.min()) if since is None else window_bounds(since, until, 1)[0]
        end = (
            rows.time.max() + timedelta(microseconds=1)
            if until is None
            else window_bounds(since, until, 1)[1]
        )
        return rows[(rows.time >= start) & (rows.time < end)].reset_index(drop=True), start, end
    start, end = window_bounds(since, until, config.window_days)
    return read_production_log(log_root, start, end, skipped), start, end


def _model_rows(rows: pd.DataFrame, reference: Reference) -> tuple[pd.DataFrame, str, list[str]]:
    """(rows, model version, notes): the rows served by the reference's model, since a promotion inside
    the window mixes two models. An explicit reference of unknown version takes the window's most common
    version; a version no row carries keeps every row."""
    version = reference.model_version
    if "model_version" not in rows:
        return rows, version, []
    if version == "unknown":
        version = str(rows.model_version.mode().iloc[0])
    if version not in set(rows.model_version):
        return rows, version, [f"no row was served by {version}; all {len(rows)} rows compared"]
    mine = rows[rows.model_version == version].reset_index(drop=True)
    dropped = len(rows) - len(mine)
    return mine, version, [f"{dropped} rows of other model versions left out"] if dropped else []


def _labels(predictions: pd.DataFrame, features: FeatureConfig, features_root: Path | None) -> pd.DataFrame:
    """EF labels known now for the predicted studies, from the store of params' `features:` section."""
    root = Path(features_root or features.root)
    return read_ef_labels(root, predictions.get("study_id", []), project=features.project)


def run_monitoring(
    params: Params,
    *,
    since: str | datetime | None = None,
    until: str | datetime | None = None,
    current: Sequence[Path] | None = None,
    reference_path: Path | None = None,
    log_root: Path | None = None,
    features_root: Path | None = None,
    dashboard: bool = True,
) -> MonitoringResult:
    """Monitor one window with the `monitoring:` section of `params`; the reference is the production
    model's (release.ledger) and the window is read from serving.production_log, unless given here.

    Raises:
        MonitoringError: no production model/reference, an unreadable or empty window (one line).
        InsufficientWindow: fewer rows than monitoring.min_window (nothing is claimed).
    """
    config = params.monitoring
    reference = read_reference(reference_path) if reference_path else production_reference(params.release)
    log_root = Path(log_root or params.serving.production_log)
    skipped: list[SkippedFile] = []
    rows, start, end = _window(current, since, until, config, log_root, skipped)
    where = ", ".join(map(str, current)) if current else str(log_root)
    span = f"{start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    if rows.empty:
        unread = f" ({len(skipped)} unreadable files skipped, e.g. {skipped[0].path})" if skipped else ""
        raise MonitoringError(
            f"no production rows in {where} between {span}{unread}; widen --since or check serving"
        )
    rows, version, notes = _model_rows(check_columns(rows, f"the production window of {where}"), reference)
    if len(rows) < config.min_window:
        raise InsufficientWindow(
            f"only {len(rows)} production rows between {span} (monitoring.min_window = {config.min_window}); "
            "nothing to conclude yet"
        )
    verdicts, ref_verdicts = clip_verdicts(rows), clip_verdicts(reference.frame)
    degradation = degradation_verdict(verdicts, ref_verdicts, config)
    run_id = f"{end:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    metadata = {"model_version": version, "run": run_id}
    snapshot, drift = drift_report(
        rows,
        reference.frame,
        (top_causes(verdicts), top_causes(ref_verdicts)),
        config,
        timestamp=end.to_pydatetime(),
        metadata=metadata,
    )
    # rows of another model than the reference's (e.g. the day after a promotion): image quality and
    # degradation still compare, predictions and embeddings of two different encoders do not
    foreign = any(n.startswith("no row was served by") for n in notes)
    if foreign:
        notes.append("prediction and embedding drift not alerted: the rows come from another model")
    lookback = (
        rows
        if current
        else read_production_log(log_root, end - timedelta(days=config.label_lookback_days), end, skipped)
    )
    skipped_files = tuple({f.path: f for f in skipped}.values())  # the lookback re-reads the window
    notes += [f.note() for f in skipped_files]
    if notes:
        drift = DriftSummary(**(drift.as_dict() | {"notes": (*drift.notes, *notes)}))
    joined = join_labels(lookback, _labels(lookback, params.features, features_root))
    accuracy = label_accuracy(joined, len(lookback), reference.evaluated_ef_mae, config)
    snapshots = {"drift": snapshot}
    if not joined.empty:
        snapshots["labels"] = labels_report(joined, timestamp=end.to_pydatetime(), metadata=metadata)
    fired = {
        "quality_drift": drift.quality_detected,
        "prediction_drift": drift.prediction_detected and not foreign,
        "embedding_drift": bool(drift.embedding_detected) and not foreign,
        "degradation": degradation.degraded,
        "label_mae": accuracy.alert,
    }
    project_id = None
    if dashboard:
        from monitoring.dashboard import add_runs

        project_id, _ = add_runs(config, list(snapshots.values()))
    result = MonitoringResult(
        run_id=run_id,
        model_version=version,
        reference_source=reference.source,
        since=start,
        until=end,
        drift=drift,
        degradation=degradation,
        labels=accuracy,
        reasons=tuple(r for r in config.alert_on if fired[r]),
        report_dir=str(config.reports_path() / run_id),
        config=config,
        project_id=project_id,
        skipped_files=skipped_files,
    )
    from monitoring.report import write_reports

    write_reports(result, snapshots)
    return result
