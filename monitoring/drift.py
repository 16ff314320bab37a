"""Evidently 0.7 drift report of a window against the reference: image-quality metrics, predictions
(EF distribution, view mix), pooled embeddings (MMD), plus the per-cause warning counts the dashboard plots.

One Report holds everything a dashboard panel reads, with the thresholds of params.yaml `monitoring:` as
the metrics' own tests, so the HTML shows pass/fail per check. Evidently is imported here only (~4 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from monitoring.config import MonitoringConfig
from ultrasound.perturbations import PERTURBATION_KINDS

VIEWS = ("A4C", "A2C", "PLAX", "PSAX", "SUBCOSTAL")
EMBEDDING = "embedding"
TSNE_PERPLEXITY = 30  # EmbeddingsDrift draws a t-SNE of both sets, which needs more samples than this


@dataclass(frozen=True)
class DriftSummary:
    """What the report found, as numbers (None: not measurable on these data, reported "n/a")."""

    rows: int
    reference_rows: int
    quality_tested: tuple[str, ...]
    quality_scores: dict[str, float]  # metric -> p-value (method monitoring.drift_method)
    quality_drifted: tuple[str, ...]
    quality_share: float
    quality_detected: bool
    ef_p: float | None = None
    view_p: float | None = None
    mean_ef: float | None = None
    reference_mean_ef: float | None = None
    view_mix: dict[str, float] = field(default_factory=dict)
    prediction_detected: bool = False
    mmd: float | None = None
    embedding_detected: bool | None = None
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


def _embeddings(frame: pd.DataFrame) -> np.ndarray | None:
    """[N, D] when every row has an embedding of one length, else None."""
    if EMBEDDING not in frame or frame[EMBEDDING].isna().any():
        return None
    lengths = {len(v) for v in frame[EMBEDDING]}
    return np.stack(frame[EMBEDDING].map(np.asarray)).astype(np.float64) if len(lengths) == 1 else None


def evidently_frame(
    frame: pd.DataFrame, named: Sequence[str], columns: Sequence[str], emb: np.ndarray | None
) -> pd.DataFrame:
    """The columns the report reads: `columns` (quality metrics, and ef / view when both sides have them),
    one 0/1 column per cause (the clip's top-named kind), `degraded`, and emb_000.. when embeddings are
    compared."""
    out = frame[list(columns)].reset_index(drop=True).copy()
    if "view" in out:
        out["view"] = out["view"].astype(str)
    named = np.asarray(named, dtype=object)
    for kind in PERTURBATION_KINDS:
        out[f"cause_{kind}"] = (named == kind).astype(float)
    out["degraded"] = (named != "").astype(float)
    if emb is not None:
        out = pd.concat(
            [out, pd.DataFrame(emb, columns=[f"emb_{i:03d}" for i in range(emb.shape[1])])], axis=1
        )
    return out


def _tested_columns(current: pd.DataFrame, reference: pd.DataFrame, config: MonitoringConfig) -> list[str]:
    return [c for c in config.drift_columns if c in current and c in reference and reference[c].notna().any()]


def _quality_metrics(columns: list[str], config: MonitoringConfig) -> tuple[object, list]:
    from evidently.metrics import DriftedColumnsCount, ValueDrift
    from evidently.tests import lt

    share = DriftedColumnsCount(
        columns=columns,
        method=config.drift_method,
        threshold=config.drift_threshold,
        drift_share=config.drift_share,
        share_tests=[lt(config.drift_share)],
    )
    per_column = [
        ValueDrift(column=c, method=config.drift_method, threshold=config.drift_threshold) for c in columns
    ]
    return share, per_column


def quality_drift_only(current: pd.DataFrame, reference: pd.DataFrame, config: MonitoringConfig) -> bool:
    """Does the quality-metric drift check fire? (The benchmark's cheap path: no predictions, no files.)"""
    from evidently import Report

    columns = _tested_columns(current, reference, config)
    share, _ = _quality_metrics(columns, config)
    snapshot = Report([share]).run(current[columns], reference[columns])
    return float(snapshot.context.get_metric_result(share).share.value) >= config.drift_share


def drift_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    named: tuple[Sequence[str], Sequence[str]],
    config: MonitoringConfig,
    *,
    timestamp: datetime | None = None,
    metadata: dict[str, str] | None = None,
):
    """Run the report; returns (Evidently Snapshot, DriftSummary). `named`: the top-named cause per clip
    (monitoring.degradation.top_causes) of the current window and of the reference."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import CategoryCount, EmbeddingsDrift, MeanValue, RowCount, SumValue, ValueDrift
    from evidently.metrics.embeddings import MMDDriftMethod
    from evidently.tests import lte

    columns = _tested_columns(current, reference, config)
    emb_cur, emb_ref = _embeddings(current), _embeddings(reference)
    notes = []
    if emb_cur is None or emb_ref is None or emb_cur.shape[1] != emb_ref.shape[1]:
        notes.append("embedding drift n/a: the window or the reference lacks embeddings of one length")
        emb_cur = emb_ref = None
    elif len(emb_cur) + len(emb_ref) <= TSNE_PERPLEXITY:
        notes.append(
            f"embedding drift n/a: Evidently's t-SNE plot needs over {TSNE_PERPLEXITY} videos in all"
        )
        emb_cur = emb_ref = None
    outputs = [c for c in ("ef", "view") if c in current and c in reference and reference[c].notna().any()]
    cur = evidently_frame(current, named[0], [*columns, *outputs], emb_cur)
    ref = evidently_frame(reference, named[1], [*columns, *outputs], emb_ref)
    predictions, views = "ef" in outputs, "view" in outputs
    if len(outputs) < 2:
        notes.append("prediction drift n/a for " + " and ".join({"ef", "view"} - set(outputs)))
    share, per_column = _quality_metrics(columns, config)
    # tests=[]: no automatic "equal to the reference" test on counts; ValueDrift keeps its drift test
    causes = [SumValue(column=f"cause_{k}", tests=[]) for k in PERTURBATION_KINDS]
    items: list = [RowCount(tests=[]), share, *per_column, *causes, SumValue(column="degraded", tests=[])]
    items.append(MeanValue(column="degraded", tests=[lte(config.degradation_share)]))
    ef_drift = (
        ValueDrift(column="ef", method="ks", threshold=config.prediction_threshold) if predictions else None
    )
    ef_mean = MeanValue(column="ef", tests=[]) if predictions else None
    view_drift = ValueDrift(column="view", method="chisquare", threshold=config.prediction_threshold)
    view_counts = {v: CategoryCount(column="view", category=v, tests=[]) for v in VIEWS}
    items += [m for m in (ef_drift, ef_mean) if m is not None]
    items += [view_drift, *view_counts.values()] if views else []
    mmd = None
    if emb_cur is not None:
        mmd = EmbeddingsDrift(
            embeddings_name=EMBEDDING,
            drift_method=MMDDriftMethod(threshold=config.embedding_mmd_threshold),
            tests=[lte(config.embedding_mmd_threshold)],
        )
        items.append(mmd)
    numerical = [c for c in cur.columns if c != "view"]
    definition = DataDefinition(
        numerical_columns=numerical,
        categorical_columns=["view"] if "view" in cur else [],
        embeddings={EMBEDDING: [c for c in cur.columns if c.startswith("emb_")]} if mmd is not None else None,
    )
    with np.errstate(divide="ignore", invalid="ignore"):  # correlations of constant cause columns
        snapshot = Report(items, include_tests=True).run(
            Dataset.from_pandas(cur, data_definition=definition),
            Dataset.from_pandas(ref, data_definition=definition),
            timestamp=timestamp,
            tags=["drift"],
            metadata=metadata or {},
        )

    def value(metric) -> float:
        return float(snapshot.context.get_metric_result(metric).value)

    scores = {m.column: value(m) for m in per_column}
    drifted = tuple(c for c, p in scores.items() if p < config.drift_threshold)
    quality_share = float(snapshot.context.get_metric_result(share).share.value)
    ef_p = value(ef_drift) if ef_drift is not None else None
    view_p = value(view_drift) if views else None
    summary = DriftSummary(
        rows=len(cur),
        reference_rows=len(ref),
        quality_tested=tuple(columns),
        quality_scores=scores,
        quality_drifted=drifted,
        quality_share=quality_share,
        quality_detected=quality_share >= config.drift_share,
        ef_p=ef_p,
        view_p=view_p,
        mean_ef=value(ef_mean) if ef_mean is not None else None,
        reference_mean_ef=float(ref["ef"].mean()) if predictions else None,
        view_mix={v: float(snapshot.context.get_metric_result(m).share.value) for v, m in view_counts.items()}
        if views
        else {},
        prediction_detected=any(p is not None and p < config.prediction_threshold for p in (ef_p, view_p)),
        mmd=value(mmd) if mmd is not None else None,
        embedding_detected=value(mmd) > config.embedding_mmd_threshold if mmd is not None else None,
        notes=tuple(notes),
    )
    return snapshot, summary
