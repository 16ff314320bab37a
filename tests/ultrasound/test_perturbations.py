"""Acoustic perturbations: EchoJEPA's exact maps, fixed per video, inside the sector, monotone in severity."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound.geometry import estimate_sector_mask
from ultrasound.perturbations import PERTURBATION_KINDS, SEVERITIES, perturb
from ultrasound.quality import quality_metrics
from ultrasound.simulator import render_study, sample_study


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return render_study(sample_study(0, "adult", 2, np.random.default_rng(2), view="A4C")).video


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_changes_only_the_sector(clip: np.ndarray, kind: str) -> None:
    out = perturb(clip, kind, "high", rng=0)
    mask = estimate_sector_mask(clip)
    assert out.shape == clip.shape and out.dtype == np.uint8
    assert np.array_equal(out[:, ~mask], clip[:, ~mask])
    assert np.abs(out[:, mask].astype(int) - clip[:, mask]).mean() > 2


def apex_depth_map(mask: np.ndarray) -> np.ndarray:
    """The oracle: normalised distance from the probe, d = sqrt((x − 0.5)² + y²) in image units (x, y in
    [0, 1]), the map EchoJEPA's depth-attenuation test uses; [H, W]. `mask` only fixes the shape."""
    h, w = mask.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.sqrt((xx / (w - 1) - 0.5) ** 2 + (yy / (h - 1)) ** 2)


def test_depth_attenuation_is_echojepas_map(clip: np.ndarray) -> None:
    mask = estimate_sector_mask(clip)
    expected = np.exp(-2.15 * apex_depth_map(mask))
    out = perturb(clip, "depth_attenuation", "high").astype(np.float32)
    bright = mask & (clip[0] > 40)
    ratio = out[0][bright] / clip[0][bright]
    assert np.allclose(ratio, expected[bright], atol=0.02)


def test_shadow_is_still_over_time_and_seeded(clip: np.ndarray) -> None:
    out = perturb(clip, "gaussian_shadow", "high", rng=4).astype(np.float32)
    src = clip.astype(np.float32)
    steady = (src > 60).sum(axis=0) >= 10  # pixels bright in at least 10 frames
    ratio = np.where(src[:, steady] > 60, out[:, steady] / np.maximum(src[:, steady], 1), np.nan)
    assert np.median(np.nanstd(ratio, axis=0)) < 0.01  # the same map on every frame
    assert np.min(np.nanmean(ratio, axis=0)) < 0.35  # strength 0.8 at the centre
    assert np.array_equal(perturb(clip, "gaussian_shadow", "high", rng=4), out.astype(np.uint8))
    assert not np.array_equal(perturb(clip, "gaussian_shadow", "high", rng=5), out.astype(np.uint8))


MONOTONE = {  # metric that must move steadily with severity, and its direction
    "depth_attenuation": ("depth_slope", -1),
    "gaussian_shadow": ("brightness", -1),
    "gain_drift": ("brightness", -1),
    "dynamic_range": ("dark_share", +1),
    "blur": ("sharpness", -1),
    "sector_dropout": ("dropout_share", +1),
}


@pytest.mark.parametrize("kind", PERTURBATION_KINDS)
def test_effect_grows_with_severity(clip: np.ndarray, kind: str) -> None:
    metric, sign = MONOTONE[kind]
    values = [quality_metrics(clip)[metric]]
    values += [quality_metrics(perturb(clip, kind, s, rng=1))[metric] for s in SEVERITIES]
    steps = sign * np.diff(values)
    assert np.all(steps > 0), (metric, values)


@pytest.mark.parametrize(
    ("kind", "severity", "word"), [("fog", "high", "perturbation kind"), ("blur", "extreme", "severity")]
)
def test_unknown_kind_or_severity_is_named(clip: np.ndarray, kind: str, severity: str, word: str) -> None:
    with pytest.raises(ValueError, match=f"unknown {word}"):
        perturb(clip, kind, severity)
