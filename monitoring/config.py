"""Typed config of params.yaml's `monitoring:` section: windows, drift tests, the degradation decision and
the delayed-label alert.

Frozen and `extra="forbid"` like every section, so `monitoring.drift_shar: 0.3` is an error that names the
key instead of a silently ignored threshold (config.params loads it). Where a value in params.yaml comes
from a measurement, the comment says which one (benchmarks/bench_monitoring.py).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

ALERT_REASONS = ("quality_drift", "prediction_drift", "embedding_drift", "degradation", "label_mae")


class MonitoringConfig(BaseModel):
    """params.yaml `monitoring:`; every threshold of the monitor run lives here."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    workspace: str  # Evidently workspace (`evidently ui --workspace ...`)
    project: str = Field(min_length=1)  # Evidently project name
    reports: str  # one folder per run: HTML + JSON + summary.md
    window_days: float = Field(gt=0)  # current window when no --since is given (the daily run)
    min_window: int = Field(ge=2)  # fewer production rows: the run is skipped, nothing is claimed
    # Quality-metric drift (Evidently per-column tests). KS at p < 0.05 on ~50 reference clips vs a
    # 200-row window; the window drifts when at least `drift_share` of the tested metrics do.
    drift_columns: tuple[str, ...]
    drift_method: str
    drift_threshold: float = Field(gt=0)
    drift_share: float = Field(gt=0, le=1)
    # Prediction drift: the EF distribution (KS) and the view mix (chi-square), p-value thresholds.
    prediction_threshold: float = Field(gt=0, lt=1)
    # Embedding drift: Evidently's MMD² (RBF kernel, median heuristic) above this value.
    embedding_mmd_threshold: float = Field(gt=0)
    # Degradation (monitoring.degradation): the window is degraded when the share of clips the cause
    # classifier flags exceeds the clean rate (the reference's flagged share, at least
    # `clean_false_alarm_rate`, the classifier's calibration target) by `degradation_share`, significantly
    # (binomial against the floor and Fisher's exact test against the reference, both at `degradation_alpha`).
    degradation_share: float = Field(gt=0, le=1)
    degradation_alpha: float = Field(gt=0, lt=1)
    clean_false_alarm_rate: float = Field(gt=0, lt=1)
    cause_share: float = Field(gt=0, le=1)  # a 2nd cause is named at this share of the top one's growth
    # Delayed labels: predictions of the last `label_lookback_days` joined with EF labels known now.
    label_lookback_days: int = Field(gt=0)
    min_labels: int = Field(ge=1)  # fewer labelled predictions: MAE is reported, never alerted on
    label_mae_margin: float = Field(ge=0)  # EF points above the model's evaluated MAE
    label_mae_max: float = Field(gt=0)  # used when the model carries no evaluated MAE
    alert_on: tuple[str, ...]
    event: str  # Interfaces: what the retrain deployment's trigger expects

    @field_validator("drift_columns")
    @classmethod
    def _known_metrics(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        from ultrasound.quality import METRICS  # here, not at import: config loading stays cheap

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
