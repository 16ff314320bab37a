"""evaluation.comparisons on hand-made predictions: the intervals' numbers, and NotMeasured (with its reason)
wherever a comparison cannot be drawn."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.bootstrap import paired_interval
from evaluation.comparisons import ef_comparisons
from evaluation.results import NotMeasured

NAMES = [f"v{i}" for i in range(8)]
TRUE = [30.0, 35.0, 40.0, 50.0, 55.0, 60.0, 65.0, 70.0]


def _predictions(offsets: list[float], names: list[str] = NAMES) -> dict:
    return {
        "FileName": names,
        "true": TRUE[: len(names)],
        "predicted": [t + o for t, o in zip(TRUE[: len(offsets)], offsets, strict=True)],
    }


def test_a_better_candidate_has_a_negative_interval_excluding_zero() -> None:
    candidate = _predictions([1, -1, 1, -1, 1, -1, 1, -1])
    baseline = _predictions([8, -9, 7, -8, 9, -7, 8, -9])
    out = ef_comparisons(candidate, {"ef_predictions": baseline}, {"train_mean": 52.0})
    vs_random = out["ef_mae_vs_random_init"]
    assert vs_random["candidate_mae"] == 1.0 and vs_random["baseline_mae"] == pytest.approx(8.125)
    expected = paired_interval(np.ones(8), np.array([8, 9, 7, 8, 9, 7, 8, 9], float))
    assert (vs_random["difference"], vs_random["low"], vs_random["high"]) == pytest.approx(
        (expected.difference, expected.low, expected.high)
    )
    assert vs_random["excludes_zero"] and vs_random["high"] < 0 and vs_random["n"] == 8
    vs_mean = out["ef_mae_vs_mean_predictor"]
    assert vs_mean["baseline_mae"] == pytest.approx(np.abs(np.array(TRUE) - 52.0).mean())


def test_videos_are_paired_by_name_not_by_position() -> None:
    candidate = _predictions([0.0] * 8)
    shuffled = {k: list(reversed(v)) for k, v in _predictions([2.0] * 8).items()}
    out = ef_comparisons(candidate, {"ef_predictions": shuffled}, {})
    assert out["ef_mae_vs_random_init"]["difference"] == pytest.approx(-2.0)
    assert out["ef_mae_vs_random_init"]["low"] == pytest.approx(-2.0)  # every draw: the same difference


def test_what_cannot_be_compared_is_not_measured_with_a_reason() -> None:
    out = ef_comparisons(None, {}, {"train_mean": 50.0})
    assert all(isinstance(v, NotMeasured) for v in out.values())
    one = _predictions([1.0], NAMES[:1])
    out = ef_comparisons(one, {"ef_predictions": one}, {"train_mean": 50.0})
    assert "fewer than 2 TEST videos" in out["ef_mae_vs_random_init"].reason
    assert isinstance(out["ef_mae_vs_mean_predictor"], NotMeasured)
    out = ef_comparisons(_predictions([1.0] * 8), {"ef_mae": NotMeasured("no ef task")}, {})
    assert isinstance(out["ef_mae_vs_random_init"], NotMeasured)
    assert "no mean predictor" in out["ef_mae_vs_mean_predictor"].reason


def test_the_candidate_is_compared_with_the_best_pixel_baseline() -> None:
    candidate = _predictions([1, -1, 1, -1, 1, -1, 1, -1])
    pixel = {
        "best": "tubelet",
        "estimators": {"tubelet": {"ef_predictions": _predictions([3, -3, 3, -3, 3, -3, 3, -3])}},
    }
    out = ef_comparisons(candidate, {}, {}, pixel)
    vs_pixel = out["ef_mae_vs_best_pixel_baseline"]
    assert vs_pixel["baseline"] == "tubelet" and vs_pixel["difference"] == pytest.approx(-2.0)
    assert vs_pixel["excludes_zero"] and "tubelet pixel baseline" in vs_pixel["text"]
    unmeasured = ef_comparisons(candidate, {}, {}, NotMeasured("4 labelled TRAIN studies"))
    assert "4 labelled TRAIN studies" in unmeasured["ef_mae_vs_best_pixel_baseline"].reason
    assert "ef_mae_vs_best_pixel_baseline" not in ef_comparisons(candidate, {}, {})  # no pixel baselines run


def test_the_evaluate_summary_names_the_probe_and_each_baseline() -> None:
    from evaluation.comparisons import baseline_lines
    from evaluation.results import jsonable
    from tests.evaluation.test_model_card import _report

    lines = baseline_lines(jsonable(_report()))
    assert lines[0] == "probe: attentive depth 1, 4 heads (2 lr × 2 wd grid), selected on VAL"
    assert lines[1] == "EF MAE (TEST): candidate 8.00"
    assert lines[-1] == (
        "  vs best pixel baseline (tubelet): 7.50; candidate − it +0.50 [-0.40, +1.30] "
        "(95 % paired bootstrap)"
    )
