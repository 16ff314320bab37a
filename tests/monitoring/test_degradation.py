"""The degradation detector: the shared cause classifier aggregated over a window, tested against the
reference's clean flag rate, and the cause whose share grew most."""

from __future__ import annotations

import pytest

from monitoring.degradation import clip_verdicts, degradation_verdict, detect_degradation, top_causes
from tests.configs import section
from tests.monitoring.conftest import reference_rows, window_rows

THRESHOLDS = {"floor": 0.02, "min_excess": 0.05, "alpha": 0.001, "cause_share": 0.3}
CLEAN_REFERENCE = [""] * 50


def test_a_few_flagged_clips_are_what_clean_traffic_does() -> None:
    # given 200 clips of which 4 are flagged: 2 %, the classifier's calibrated clean rate
    named = ["gain_drift"] * 4 + [""] * 196
    verdict = detect_degradation(named, CLEAN_REFERENCE, **THRESHOLDS)
    assert not verdict.degraded and verdict.causes == ()
    assert verdict.flagged == 4 and verdict.share == pytest.approx(0.02) and verdict.clean_rate == 0.02
    assert verdict.p_value == pytest.approx(0.5685, abs=1e-4)  # P(X >= 4 | n=200, p=0.02) dominates


def test_many_flagged_clips_name_their_cause_and_a_second_one_that_grew_enough() -> None:
    # given 40 flagged clips of 200: 26 blur, 12 gain drift (46 % of blur's growth), 2 shadow (8 %)
    named = ["blur"] * 26 + ["gain_drift"] * 12 + ["gaussian_shadow"] * 2 + [""] * 160
    verdict = detect_degradation(named, CLEAN_REFERENCE, **THRESHOLDS)
    assert verdict.degraded
    assert verdict.causes == ("blur", "gain_drift")
    assert verdict.share == pytest.approx(0.2) and verdict.p_value < 1e-4
    assert verdict.cause_counts["blur"] == 26 and verdict.cause_excess["blur"] == pytest.approx(0.13)
    assert verdict.advice[0].startswith("blur: blurred image")


def test_the_reference_rate_is_the_baseline_and_its_causes_are_not_blamed() -> None:
    # given clean traffic flagged 40 % as sector_dropout in the reference (as after an MJPEG round trip)
    reference = ["sector_dropout"] * 20 + [""] * 30
    same = ["sector_dropout"] * 80 + [""] * 120
    assert not detect_degradation(same, reference, **THRESHOLDS).degraded
    # when a shadow appears on top of that baseline, the shadow is named, not the larger sector_dropout count
    shadowed = ["sector_dropout"] * 80 + ["gaussian_shadow"] * 70 + [""] * 50
    verdict = detect_degradation(shadowed, reference, **THRESHOLDS)
    assert verdict.degraded and verdict.causes == ("gaussian_shadow",) and verdict.clean_rate == 0.4
    assert verdict.cause_counts["sector_dropout"] > verdict.cause_counts["gaussian_shadow"]


def test_a_small_reference_makes_the_test_careful() -> None:
    # 20 % flagged in a 10-clip reference vs 36 % in the window: above the floor, but not proven above the
    # reference (Fisher's exact test); with a 500-clip reference at 20 % it is
    window = ["blur"] * 72 + [""] * 128
    assert not detect_degradation(window, ["blur"] * 2 + [""] * 8, **THRESHOLDS).degraded
    assert detect_degradation(window, ["blur"] * 100 + [""] * 400, **THRESHOLDS).degraded


def test_a_significant_but_tiny_excess_is_not_degradation() -> None:
    # 3 % flagged on a 10,000-clip window: improbable for a 2 % rate, yet only 1 % above it
    named = ["blur"] * 300 + [""] * 9700
    verdict = detect_degradation(named, CLEAN_REFERENCE * 20, **THRESHOLDS)
    assert verdict.p_value < 1e-3 and not verdict.degraded


def test_gain_drift_window_is_degraded_with_gain_drift_named(clip_metrics) -> None:
    reference = clip_verdicts(reference_rows(clip_metrics))
    verdict = degradation_verdict(
        clip_verdicts(window_rows(clip_metrics, "gain_drift")), reference, section("monitoring")
    )
    assert verdict.degraded and verdict.causes[0] == "gain_drift"
    assert verdict.cause_counts["gain_drift"] >= 0.8 * verdict.n


def test_clean_window_is_not_degraded(clip_metrics) -> None:
    reference = clip_verdicts(reference_rows(clip_metrics))
    window = clip_verdicts(window_rows(clip_metrics))
    verdict = degradation_verdict(window, reference, section("monitoring"))
    assert not verdict.degraded and verdict.causes == ()
    assert verdict.flagged == sum(name != "" for name in top_causes(window))
