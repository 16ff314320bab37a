"""Typed config of params.yaml's `monitoring:` section: windows, drift tests, the degradation decision and
the delayed-label alert.

Frozen and `extra="forbid"` like every section, so `monitoring.drift_shar: 0.3` is an error that names the
key instead of a silently ignored threshold. Where a default comes from a measurement, the comment says
which one (benchmarks/bench_monitoring.py, reports/benchmarks/monitoring.json).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ultrasound.quality import METRICS

ALERT_REASONS = ("quality_drift", "prediction_drift", "embedding_drift", "degradation", "label_mae")
# Frame geometry is fixed per device and identical in every simulated clip: a drift test on a constant
# column says nothing, and a resolution change is a data-contract matter (validate), not drift.
GEOMETRY = ("frame_rate", "height", "width", "frame_count")


class MonitoringConfig(BaseModel):
    """params.yaml `monitoring:`; every threshold of the monitor run lives here."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    workspace: str = "monitoring/workspace"  # Evidently workspace (`evidently ui --workspace ...`)
    project: str = Field("echojepa-production", min_length=1)  # Evidently project name
    reports: str = "reports/monitoring"  # one folder per run: HTML + JSON + summary.md
    window_days: float = Field(1.0, gt=0)  # current window when no --since is given (the daily run)
    min_window: int = Field(30, ge=2)  # fewer production rows: the run is skipped, nothing is claimed
    # Quality-metric drift (Evidently per-column tests). KS at p < 0.05 on ~50 reference clips vs a
    # 200-row window; the window drifts when at least `drift_share` of the tested metrics do.
    drift_columns: tuple[str, ...] = tuple(m for m in METRICS if m not in GEOMETRY)
    drift_method: str = "ks"
    drift_threshold: float = Field(0.05, gt=0)
    drift_share: float = Field(0.5, gt=0, le=1)
    # Prediction drift: the EF distribution (KS) and the view mix (chi-square), p-value thresholds.
    prediction_threshold: float = Field(0.01, gt=0, lt=1)
    # Embedding drift: Evidently's MMD² (RBF kernel, median heuristic) above this value.
    embedding_mmd_threshold: float = Field(0.05, gt=0)
    # Degradation (monitoring.degradation): the window is degraded when the share of clips the cause
    # classifier flags exceeds the clean rate (the reference's flagged share, at least
    # `clean_false_alarm_rate`, the classifier's calibration target) by `degradation_share`, significantly
    # (binomial against the floor and Fisher's exact test against the reference, both at `degradation_alpha`).
    degradation_share: float = Field(0.05, gt=0, le=1)
    degradation_alpha: float = Field(0.001, gt=0, lt=1)
    clean_false_alarm_rate: float = Field(0.02, gt=0, lt=1)
    cause_share: float = Field(0.3, gt=0, le=1)  # a 2nd cause is named at this share of the top one's growth
    # Delayed labels: predictions of the last `label_lookback_days` joined with EF labels known now.
    label_lookback_days: int = Field(30, gt=0)
    min_labels: int = Field(10, ge=1)  # fewer labelled predictions: MAE is reported, never alerted on
    label_mae_margin: float = Field(3.0, ge=0)  # EF points above the model's evaluated MAE
    label_mae_max: float = Field(12.0, gt=0)  # used when the model carries no evaluated MAE
    alert_on: tuple[str, ...] = ("quality_drift", "embedding_drift", "degradation", "label_mae")
    event: str = "echojepa.drift.detected"  # Interfaces: what the retrain deployment's trigger expects

    @field_validator("drift_columns")
    @classmethod
    def _known_metrics(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [c for c in columns if c not in METRICS]
        if unknown or not columns:
            raise ValueError(f"unknown quality metric(s) {unknown}; expected some of {', '.join(METRICS)}")
        return columns

    @field_validator("alert_on")
    @classmethod
    def _known_reasons(cls, reasons: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in reasons if r not in ALERT_REASONS]
        if unknown:
            raise ValueError(
                f"unknown alert reason(s) {unknown}; expected some of {', '.join(ALERT_REASONS)}"
            )
        return reasons

    def workspace_path(self, base: Path | None = None) -> Path:
        return _resolve(self.workspace, base)

    def reports_path(self, base: Path | None = None) -> Path:
        return _resolve(self.reports, base)


def _resolve(path: str, base: Path | None) -> Path:
    p = Path(path)
    return p if p.is_absolute() or base is None else Path(base) / p


def read_params(params: Path | str) -> dict:
    """The whole params file as a dict ({} when the file is absent)."""
    import yaml

    path = Path(params)
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def load_monitoring_config(params: Path | str = "params.yaml") -> MonitoringConfig:
    """The `monitoring:` section (defaults when absent). Raises ValueError naming a bad key in one line,
    e.g. "params.yaml: monitoring.drift_shar: unknown key"."""
    from pydantic import ValidationError

    section = read_params(params).get("monitoring") or {}
    try:
        return MonitoringConfig.model_validate(section, strict=False)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("monitoring", *first["loc"]))
        reason = "unknown key" if first["type"] == "extra_forbidden" else first["msg"]
        raise ValueError(f"{params}: {where}: {reason}") from None
