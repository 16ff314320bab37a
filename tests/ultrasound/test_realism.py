"""Realism, difficulty and label placement of the simulator, as measured numbers.

- image statistics fall inside the ranges measured on real EchoNet-Dynamic clips;
- speckle carries most of the pixel variance inside tissue;
- no shortcut: time-averaged global statistics do not predict EF, and EF is independent of nuisances;
- yet EF is in the pixels: the dark share inside the traced ED contour follows it.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ultrasound.anatomy import VIEWS, cavities
from ultrasound.dataset import plan_studies
from ultrasound.geometry import Sector
from ultrasound.realism import (
    ECHONET_RANGES,
    cavity_emptying,
    contour_mask,
    ed_chords,
    global_statistics,
    image_statistics,
    median_speckle_share,
    nuisance_correlations,
    shortcut_r2,
)
from ultrasound.simulator import build_heart, sample_study
from ultrasound.video_io import read_video


def _videos(sim_dir: Path, names) -> list[np.ndarray]:
    return [read_video(sim_dir / "Videos" / f"{n}.avi").frames for n in names]


def test_image_statistics_inside_echonet_ranges(sim_dir: Path, filelist: pd.DataFrame) -> None:
    adult = filelist[filelist.Cohort == "adult"].FileName.iloc[:60]
    stats = pd.DataFrame([image_statistics(v) for v in _videos(sim_dir, adult)])
    for key in (
        "sector_share",
        "sector_mean",
        "sector_std",
        "dark_share",
        "speckle_snr",
        "frame_correlation",
    ):
        _, lo, hi = ECHONET_RANGES[key]
        median = stats[key].median()
        assert lo <= median <= hi, f"{key}: median {median:.3f} outside the real range {lo}–{hi}"
        # most clips, not only the median, look real: 80 % inside the range widened by 15 %
        share = stats[key].between(lo - 0.15 * abs(lo), hi + 0.15 * abs(hi)).mean()
        assert share >= 0.8, f"{key}: only {share:.0%} of clips near the real range"
    assert stats.frames.between(*ECHONET_RANGES["frames"][1:]).all()


def test_speckle_carries_most_tissue_variance() -> None:
    assert median_speckle_share(n_clips=10, seed=3) > 0.5


def test_global_statistics_do_not_predict_ef(sim_dir: Path, filelist: pd.DataFrame) -> None:
    features = np.stack([global_statistics(v) for v in _videos(sim_dir, filelist.FileName)])
    assert shortcut_r2(features, filelist.EF.to_numpy()) < 0.2


def test_ef_independent_of_nuisances() -> None:
    """|r| < 0.2 between EF and heart rate, and each device / view / cohort indicator, over 3,000 drawn
    studies (a 240-video dataset with patients' repeat visits is too small to bound r at 0.2)."""
    plan = pd.DataFrame([asdict(study) for study, _, _ in plan_studies(3000, seed=7, cohort="mixed")])
    correlations = nuisance_correlations(plan, "ef_target", ("heart_rate",), ("device", "view", "cohort"))
    assert set(correlations) == {"heart_rate", "device", "view", "cohort"}
    assert max(correlations.values()) < 0.2, correlations


def test_rendered_ef_follows_the_drawn_ef(filelist: pd.DataFrame, factors: pd.DataFrame) -> None:
    """The label measured from the rendered contour stays within a few points of the drawn EF, so the
    independence above carries over to the labels."""
    merged = filelist.merge(factors, on="FileName")
    gap = (merged.EF - merged.EFTarget).abs()
    assert gap.median() < 1.5 and gap.max() < 8


def test_ef_lives_in_the_pixels_on_apical_views(
    sim_dir: Path, filelist: pd.DataFrame, tracings: pd.DataFrame
) -> None:
    apical = filelist[filelist.View.isin(["A4C", "A2C"])]
    by_file = dict(list(tracings.groupby("FileName")))
    measured = []
    for name, video in zip(apical.FileName, _videos(sim_dir, apical.FileName), strict=True):
        measured.append(cavity_emptying(video, contour_mask(ed_chords(by_file[name]))))
    assert len(apical) >= 60
    assert np.corrcoef(measured, apical.EF)[0, 1] >= 0.5


def test_views_have_distinct_anatomy() -> None:
    """Every pair of the five views puts its blood pools in clearly different places (IoU < 0.6)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:112, 0:112].astype(np.float32)
    pools = {}
    for view in VIEWS:
        heart = build_heart(sample_study(0, "adult", 0, rng, view=view), Sector(), np.random.default_rng(1))
        pools[view] = np.minimum.reduce(cavities(heart, 0.0, x, y)) < 0
        assert 0.08 < pools[view].mean() < 0.6, view
    for i, a in enumerate(VIEWS):
        for b in VIEWS[i + 1 :]:
            iou = (pools[a] & pools[b]).sum() / (pools[a] | pools[b]).sum()
            assert iou < 0.6, (a, b, iou)
