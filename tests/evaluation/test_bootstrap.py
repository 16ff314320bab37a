"""Paired bootstrap intervals: coverage of a known difference, pairing narrower than independence, and
refusals that name the problem."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.bootstrap import paired_errors, paired_interval


def test_interval_covers_the_true_difference_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(1)
    covered = 0
    for trial in range(200):
        hardness = rng.gamma(2.0, 2.0, 80)  # per-video difficulty, shared by both models
        a = hardness + rng.normal(0.5, 1.0, 80)
        b = hardness + rng.normal(0.0, 1.0, 80)
        interval = paired_interval(a, b, draws=500, seed=trial)
        covered += interval.low <= 0.5 <= interval.high
    assert 0.88 <= covered / 200 <= 0.99


def test_pairing_removes_the_shared_difficulty() -> None:
    rng = np.random.default_rng(2)
    hardness = rng.gamma(2.0, 3.0, 60)
    a, b = hardness + 0.8 + rng.normal(0, 0.5, 60), hardness + rng.normal(0, 0.5, 60)
    paired = paired_interval(a, b)
    assert paired.excludes_zero and paired.low > 0
    # unpaired (the pairing broken by shuffling one side) the same data cannot separate the two
    shuffled = paired_interval(a, rng.permutation(b))
    assert shuffled.high - shuffled.low > 3 * (paired.high - paired.low)
    assert not shuffled.excludes_zero
    assert "95 % CI, 60 videos" in str(paired)


def test_same_models_do_not_separate() -> None:
    errors = np.abs(np.random.default_rng(3).normal(0, 5, 50))
    interval = paired_interval(errors, errors + np.random.default_rng(4).normal(0, 0.2, 50))
    assert not interval.excludes_zero


def test_errors_are_paired_by_file_name_and_bad_input_refused() -> None:
    first = {"FileName": ["a", "b", "c"], "true": [50, 60, 40], "predicted": [52, 57, 40]}
    second = {"FileName": ["c", "a", "x"], "true": [40, 50, 10], "predicted": [45, 50, 20]}
    left, right = paired_errors(first, second)
    assert left.tolist() == [2, 0] and right.tolist() == [0, 5]  # a, c in name order
    assert paired_errors(first, {"FileName": ["a"], "true": [1], "predicted": [1]}) is None
    with pytest.raises(ValueError, match="one length"):
        paired_interval(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="at least 2 paired videos"):
        paired_interval(np.zeros(1), np.zeros(1))
