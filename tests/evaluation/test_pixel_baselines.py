"""The shortcut audit: its pixel statistics on hand-made clips whose answers are known, the paired bootstrap,
and the verdict on a planted shortcut (positive control) against its negative control (the same pixels
with EF shuffled across videos: no shortcut), and the simulator's own figure on the session's dataset.

The session dataset (tests/conftest.py: 240 mixed-cohort videos, seed 1, about 30 TEST) is shared with the
realism tests, so the audit adds only its features and fits (about 10 s on 2 cores) to a suite run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from config.params import load_params
from evaluation.pixel_baselines import (
    ESTIMATORS,
    dark_area_change,
    paired_bootstrap,
    pixel_features,
    shortcut_audit,
    shuffled_labels,
    std_map,
    tubelet_statistics,
)


def test_tubelet_statistics_are_the_token_grid_temporal_std_then_mean():
    # given a 16×32×32 clip, flat grey 10, whose top-left 16² patch alternates 0 / 20 every 2 frames
    clip = np.full((1, 16, 32, 32), 10.0)
    for t in range(16):
        clip[0, t, :16, :16] = 20.0 if (t // 2) % 2 else 0.0
    # when its tubelet statistics (tubelet 2, patch 16) are taken
    stats = tubelet_statistics(clip, tubelet=2, patch=16)
    # then the 4 token positions' temporal std are [10, 0, 0, 0] and their means all 10
    np.testing.assert_allclose(stats, [10, 0, 0, 0, 10, 10, 10, 10])


def test_std_map_blocks_the_per_pixel_temporal_std():
    clip = np.zeros((2, 4, 16, 16))
    clip[:, ::2, :8, :8] = 6.0  # std 3 over time in the top-left 8² block only
    np.testing.assert_allclose(std_map(clip, block=8), [3, 0, 0, 0])


def test_dark_area_change_is_the_fractional_change_of_the_dark_in_sector_area():
    # given a bright 40×40 sector with a dark square of 400 px (diastole) or 100 px (systole)
    video = np.full((20, 60, 60), 120, dtype=np.uint8)
    video[:, :, :10] = video[:, :, 50:] = 0  # outside the sector
    for t in range(20):
        side = 20 if t % 2 else 10
        video[t, 20 : 20 + side, 20 : 20 + side] = 8
    # then (400 − 100) / 400 at every percentile of the grid
    np.testing.assert_allclose(dark_area_change(video, (0.0, 5.0)), [0.75, 0.75])


def test_paired_bootstrap_of_a_constant_gain_has_a_point_interval():
    reference = np.random.default_rng(0).uniform(2, 12, 50)
    result = paired_bootstrap(reference - 1.0, reference, draws=200)
    assert result["mae_difference"] == -1.0
    assert result["mae_difference_ci95"] == [-1.0, -1.0]
    same = paired_bootstrap(reference, reference, draws=200)
    assert same["mae_difference_ci95"] == [0.0, 0.0] and same["ratio_ci95"] == [1.0, 1.0]


@pytest.fixture(scope="module")
def audited(sim_dir: Path, filelist: pd.DataFrame):
    params = load_params()
    features = pixel_features(
        sim_dir,
        list(filelist.FileName),
        params.pretrain.data,
        params.pretrain.model,
        params.probe.clips_per_video,
    )
    return features, filelist


def test_the_audit_flags_a_planted_shortcut(audited):
    """Positive control: the session's own pixels with EF replaced by a linear function of one tubelet's
    temporal statistic plus 2 points of noise. The audit must find it (the negative control must not)."""
    features, table = audited
    x = features.tubelet[:, : features.tubelet.shape[1] // 2]  # the temporal-std half
    column = x[:, int(np.argmax(x.std(axis=0)))]
    noise = np.random.default_rng(0).normal(0.0, 2.0, len(table))
    planted = table.assign(EF=55.0 + 12.0 * (column - column.mean()) / column.std() + noise)
    result = shortcut_audit(features, planted, draws=500)
    assert result.verdict == "shortcut"
    tubelet = result.estimators["tubelet"]
    assert tubelet["ratio_to_mean_predictor"] <= 0.5
    assert tubelet["mae_difference_ci95"][1] < 0  # the gain's CI excludes zero
    assert result.test_videos == (table.Split == "TEST").sum() and result.test_videos >= 25
    assert set(result.report()["estimators"]) == set(ESTIMATORS)


def test_the_simulators_nuisance_weakens_the_pixel_shortcut(audited):
    """Before the per-study nuisance (issue 15 item 1) the tubelet ridge reached 0.47× the mean predictor's
    MAE; with it, on the session's 240 videos, no estimator gets below 0.6× (at 1,200 videos the ridge has
    more to fit on: 0.66×, benchmarks/shortcut_audit.py; the issue's bound is 0.85×, not met)."""
    features, table = audited
    result = shortcut_audit(features, table, draws=500)
    for name, e in result.estimators.items():
        assert e["ratio_to_mean_predictor"] >= 0.6, (name, e)


def test_shuffled_labels_are_no_shortcut(audited):
    features, table = audited
    control = shuffled_labels(table, seed=0)
    assert sorted(control.EF) == sorted(table.EF) and not np.array_equal(control.EF, table.EF)
    result = shortcut_audit(features, control, draws=500)
    assert result.verdict == "no shortcut"
    for name, e in result.estimators.items():
        assert e["ratio_to_mean_predictor"] >= 0.85, name


def test_the_audit_refuses_rows_it_has_no_features_for(audited):
    features, table = audited
    with pytest.raises(ValueError, match="not the rows the features were computed from"):
        shortcut_audit(features, table.iloc[::-1])
    no_test = table.assign(Split=table.Split.replace("TEST", "VAL"))
    with pytest.raises(ValueError, match="no TEST videos"):
        shortcut_audit(features, no_test)
