"""The cause classifier on clips it was not fitted on (fitted with seed 11; tested with seed 2026)."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound.causes import ADVICE, CLASSES, classify_causes, load_model
from ultrasound.fit_causes import evaluate, simulate_metrics
from ultrasound.perturbations import PERTURBATION_KINDS, perturb
from ultrasound.quality import quality_metrics
from ultrasound.simulator import render_study, sample_study


@pytest.fixture(scope="module")
def results() -> dict:
    return evaluate(simulate_metrics(40, seed=2026, workers=2))


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_high_severity_named_right(results: dict, kind: str) -> None:
    assert results["rates"][kind]["high"]["named_right"] >= 0.9


def test_clean_clips_rarely_called_degraded(results: dict) -> None:
    assert results["false_alarm"] <= 0.05


def test_detection_does_not_fall_with_severity(results: dict) -> None:
    for kind in PERTURBATION_KINDS:
        rates = [results["rates"][kind][s]["detected"] for s in ("low", "medium", "high")]
        assert rates[2] >= rates[0], (kind, rates)


def test_verdict_carries_warnings_and_probabilities() -> None:
    assert load_model().weights.shape == (len(CLASSES), 12)
    clip = render_study(sample_study(3, "adult", 4, np.random.default_rng(4), view="A4C")).video
    clean = classify_causes(quality_metrics(clip))
    assert not clean.degraded and clean.warnings == []
    verdict = classify_causes(quality_metrics(perturb(clip, "sector_dropout", "high", rng=0)))
    assert verdict.degraded and verdict.causes[0] == "sector_dropout"
    assert verdict.warnings[0] == f"sector_dropout: {ADVICE['sector_dropout']}"
    assert sum(verdict.probabilities.values()) == pytest.approx(1.0)
