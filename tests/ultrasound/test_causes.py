"""The cause classifier on clips it was not fitted on (fitted with seed 11; tested with seed 2026), as
rendered, as stored in an MJPEG AVI and as random sites show them (ultrasound.site_look). The full figures
are benchmarks/bench_causes.py's (60 videos of seed 2029); here 40 and 30 videos, so each miss moves a rate
by 2.5 or 3.3 points. On site looks the benchmark measures clean false alarms 6.7 % (4 of 60) and the worst
kind at high gain drift at 82 % (shadow 95 %), short of issue 19's 5 % and 90 %; the bounds below are this
suite's regression guard (10 % and 80 % on 30 videos), which the linear model the hidden layer replaced
fails by far (78 % false alarms, gain drift 38 %)."""

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
    return evaluate(simulate_metrics(40, seed=2026, workers=2, variants=("rendered", "mjpeg")))


@pytest.fixture(scope="module")
def site_results() -> dict:
    return evaluate(simulate_metrics(30, seed=2026, workers=2, variants=("site",)))


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_high_severity_named_right(results: dict, kind: str) -> None:
    assert results["rates"][kind]["high"]["named_right"] >= 0.9


def test_clean_clips_rarely_called_degraded(results: dict) -> None:
    assert results["false_alarm"] <= 0.05


def test_site_looks_do_not_cry_wolf(site_results: dict) -> None:
    assert site_results["false_alarm"] <= 0.1
    for kind in PERTURBATION_KINDS:
        assert site_results["rates"][kind]["high"]["named_right"] >= 0.8, kind


def test_detection_does_not_fall_with_severity(results: dict) -> None:
    for kind in PERTURBATION_KINDS:
        rates = [results["rates"][kind][s]["detected"] for s in ("low", "medium", "high")]
        assert rates[2] >= rates[0], (kind, rates)


def test_verdict_carries_warnings_and_probabilities() -> None:
    model = load_model()
    assert model.hidden_weights.shape == (64, 12) and model.weights.shape == (len(CLASSES), 64)
    clip = render_study(sample_study(3, "adult", 4, np.random.default_rng(4), view="A4C")).video
    clean = classify_causes(quality_metrics(clip))
    assert not clean.degraded and clean.warnings == []
    verdict = classify_causes(quality_metrics(perturb(clip, "sector_dropout", "high", rng=0)))
    assert verdict.degraded and verdict.causes[0] == "sector_dropout"
    assert verdict.warnings[0] == f"sector_dropout: {ADVICE['sector_dropout']}"
    assert sum(verdict.probabilities.values()) == pytest.approx(1.0)


def test_unknown_variants_are_named() -> None:
    with pytest.raises(ValueError, match="unknown variants"):
        simulate_metrics(1, seed=0, variants=("rendered", "png"))
