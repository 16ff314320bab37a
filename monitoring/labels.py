"""Delayed-label accuracy: EF measured after the prediction, joined back to what the model said.

Echo labels arrive days after a study is served (a sonographer's measurement, a report). They enter Feast's
`study_labels` view keyed by the study pseudonym (features.sources.sync_sources); this module reads the
labels known now for the studies predicted in the lookback window, joins them on study_id and tracks the EF
mean absolute error per day, per device and per cohort. No labels yet is "n/a", never an error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd

from monitoring.config import MonitoringConfig

LABEL_FIELDS = ("EF", "Device", "Cohort")


@dataclass(frozen=True)
class LabelAccuracy:
    """EF MAE of labelled predictions and where it alerts (limit: evaluated MAE + margin)."""

    n_predictions: int
    n_labelled: int
    mae: float | None
    limit: float
    alert: bool
    daily: list[dict] = field(default_factory=list)  # [{"date", "n", "mae"}], oldest first
    by_device: dict[str, dict] = field(default_factory=dict)  # {device: {"n", "mae"}}
    by_cohort: dict[str, dict] = field(default_factory=dict)

    @property
    def text(self) -> str:
        if self.mae is None:
            return f"n/a (no EF labels yet for {self.n_predictions} predictions)"
        return f"{self.mae:.2f} on {self.n_labelled} labelled of {self.n_predictions} predictions"

    def as_dict(self) -> dict:
        return asdict(self) | {"text": self.text}


def read_ef_labels(
    store_root: Path, study_ids: Sequence[str], as_of: datetime | None = None, project: str = "echojepa"
) -> pd.DataFrame:
    """EF, Device and Cohort of each study as known at `as_of` (default now): columns study_id + those.

    Reads Feast's `study_labels` view (point-in-time, get_historical_features) when the store is applied
    (registry.db present), else its labels source file with the same as-of rule; studies without a label
    are absent."""
    from features.definitions import LABEL_TIME, LABELS_FILE, STUDY_KEY
    from features.sources import SCHEMAS, latest, read_source, utc

    ids = sorted({str(s) for s in study_ids if isinstance(s, str) and s})
    root = Path(store_root)
    if not ids or not (root / LABELS_FILE).is_file():
        return pd.DataFrame(columns=[STUDY_KEY, *LABEL_FIELDS])
    if (root / "registry.db").is_file():
        from features.store import open_store
        from features.training import training_frame

        frame = training_frame(open_store(root, project), ids, utc(as_of)).rename(
            columns={"FileName": STUDY_KEY}
        )
    else:
        source = read_source(root / LABELS_FILE, SCHEMAS[LABELS_FILE])
        source = source[source[LABEL_TIME] <= utc(as_of)]
        frame = latest(source, STUDY_KEY, LABEL_TIME).reset_index()
        frame = frame[frame[STUDY_KEY].isin(ids)]
    frame = frame[[STUDY_KEY, *LABEL_FIELDS]].dropna(subset=["EF"])
    return frame.astype({"EF": float}).reset_index(drop=True)


def join_labels(predictions: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """Labelled predictions: time, study_id, ef, EF, abs_error, device, cohort (the log's device/cohort,
    else the label's)."""
    if predictions.empty or labels.empty or "study_id" not in predictions:
        return pd.DataFrame(columns=["time", "study_id", "ef", "EF", "abs_error", "device", "cohort"])
    joined = predictions.merge(labels, on="study_id", how="inner")
    for ours, theirs in (("device", "Device"), ("cohort", "Cohort")):
        mine = joined[ours].astype(str) if ours in joined else pd.Series("", index=joined.index)
        joined[ours] = mine.where(mine.str.len() > 0, joined[theirs].fillna("unknown").astype(str))
    joined["abs_error"] = (joined["ef"].astype(float) - joined["EF"]).abs()
    return joined[["time", "study_id", "ef", "EF", "abs_error", "device", "cohort"]].reset_index(drop=True)


def _groups(joined: pd.DataFrame, key: pd.Series | str) -> dict[str, dict]:
    stats = joined.groupby(key).abs_error.agg(["size", "mean"])
    return {str(k): {"n": int(row["size"]), "mae": float(row["mean"])} for k, row in stats.iterrows()}


def label_accuracy(
    joined: pd.DataFrame, n_predictions: int, evaluated_mae: float | None, config: MonitoringConfig
) -> LabelAccuracy:
    """MAE overall, per day of prediction, per device and per cohort; alerts when at least
    monitoring.min_labels predictions are labelled and the MAE exceeds the model's evaluated MAE by more
    than monitoring.label_mae_margin (monitoring.label_mae_max when the model has no evaluated MAE)."""
    limit = evaluated_mae + config.label_mae_margin if evaluated_mae is not None else config.label_mae_max
    if joined.empty:
        return LabelAccuracy(n_predictions, 0, None, limit, False)
    mae = float(joined.abs_error.mean())
    days = _groups(joined, joined.time.dt.strftime("%Y-%m-%d"))
    return LabelAccuracy(
        n_predictions=n_predictions,
        n_labelled=len(joined),
        mae=mae,
        limit=limit,
        alert=len(joined) >= config.min_labels and mae > limit,
        daily=[{"date": d, **v} for d, v in sorted(days.items())],
        by_device=_groups(joined, "device"),
        by_cohort=_groups(joined, "cohort"),
    )


def labels_report(joined: pd.DataFrame, *, timestamp: datetime | None = None, metadata: dict | None = None):
    """Evidently snapshot (tag "labels") of the labelled predictions: mean absolute EF error overall and
    per device and cohort, which the dashboard's delayed-label panels plot."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import GroupBy, MeanValue, RowCount

    frame = joined[["abs_error", "ef", "EF", "device", "cohort"]].astype({"device": str, "cohort": str})
    definition = DataDefinition(
        numerical_columns=["abs_error", "ef", "EF"], categorical_columns=["device", "cohort"]
    )
    error = MeanValue(column="abs_error")
    report = Report([RowCount(), error, GroupBy(error, "device"), GroupBy(error, "cohort")])
    return report.run(
        Dataset.from_pandas(frame, data_definition=definition),
        None,
        timestamp=timestamp,
        tags=["labels"],
        metadata=metadata or {},
    )
