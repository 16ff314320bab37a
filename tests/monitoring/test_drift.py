"""Evidently drift report: quality metrics, predictions and embeddings against the reference."""

from __future__ import annotations

import pandas as pd

from monitoring.degradation import clip_verdicts, top_causes
from monitoring.drift import drift_report, evidently_frame
from monitoring.synthetic import synthetic_log, synthetic_reference
from tests.configs import section
from tests.monitoring.conftest import reference_rows, window_rows

CONFIG = section("monitoring")


def report(current: pd.DataFrame, reference: pd.DataFrame):
    named = (top_causes(clip_verdicts(current)), top_causes(clip_verdicts(reference)))
    return drift_report(current, reference, named, CONFIG)


def test_gain_drift_window_drifts_in_quality_predictions_and_embeddings(clip_metrics) -> None:
    # given a window of the same clips with high gain drift, lower predicted EF and shifted embeddings
    reference = synthetic_reference(reference_rows(clip_metrics), seed=0)
    rows = window_rows(clip_metrics, "gain_drift")
    current = synthetic_log(rows, "2026-01-06", seed=2, ef_mean=35.0, embedding_shift=1.0)
    # when
    snapshot, summary = report(current, reference)
    # then
    assert summary.rows == 24 and summary.reference_rows == 24
    assert summary.quality_detected and summary.quality_share >= CONFIG.drift_share
    assert {"brightness", "contrast", "dynamic_range"} <= set(summary.quality_drifted)
    assert summary.quality_scores["brightness"] < 1e-3
    assert summary.ef_p < 1e-4 and summary.mean_ef < 45 < summary.reference_mean_ef
    assert summary.prediction_detected
    assert summary.mmd > CONFIG.embedding_mmd_threshold and summary.embedding_detected
    tests = {t["name"]: t["status"] for t in snapshot.dict()["tests"]}
    assert str(tests["Share of Drifted Columns: Less 0.500"]).endswith("FAIL")


def test_same_distribution_window_does_not_drift(clip_metrics) -> None:
    # given clean clips the reference never saw, predictions and embeddings from the reference's distribution
    reference = synthetic_reference(reference_rows(clip_metrics), seed=0)
    current = synthetic_log(window_rows(clip_metrics), "2026-01-05", seed=1)
    # when
    _, summary = report(current, reference)
    # then
    assert not summary.quality_detected and summary.quality_share <= 0.25
    assert len(summary.quality_tested) == 12  # frame geometry is not tested (constant per device)
    assert summary.ef_p > 0.01 and summary.view_p > 0.01 and not summary.prediction_detected
    assert summary.mmd < CONFIG.embedding_mmd_threshold and summary.embedding_detected is False
    assert set(summary.view_mix) == {"A4C", "A2C", "PLAX", "PSAX", "SUBCOSTAL"}
    assert abs(sum(summary.view_mix.values()) - 1.0) < 1e-9


def test_embedding_drift_is_na_without_embeddings_and_causes_become_columns(clip_metrics) -> None:
    reference = synthetic_reference(reference_rows(clip_metrics)).drop(columns=["embedding"])
    current = synthetic_log(window_rows(clip_metrics, "gain_drift"), "2026-01-06", seed=2)
    named = top_causes(clip_verdicts(current))
    frame = evidently_frame(current, named, CONFIG.drift_columns, None)
    assert frame["cause_gain_drift"].sum() == sum(n == "gain_drift" for n in named) >= 20
    assert frame["degraded"].sum() == sum(n != "" for n in named)
    assert not any(c.startswith("emb_") for c in frame.columns)
    _, summary = report(current, reference)
    assert summary.mmd is None and summary.embedding_detected is None
    assert summary.notes == (
        "embedding drift n/a: the window or the reference lacks embeddings of one length",
    )
