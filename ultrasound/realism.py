"""Image statistics that compare a clip with real EchoNet-Dynamic A4C clips (the realism table of
shared/notes/echo-domain.md), and the reference ranges measured there."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from scipy.ndimage import uniform_filter

from ultrasound.geometry import estimate_sector_mask

# statistic -> (median, low, high) measured on 9 public EchoNet-Dynamic example clips
ECHONET_RANGES: dict[str, tuple[float, float, float]] = {
    "frames": (189, 129, 223),
    "sector_share": (0.61, 0.46, 0.70),
    "sector_mean": (49, 41, 70),
    "sector_std": (53, 50, 73),
    "dark_share": (0.48, 0.34, 0.62),
    "speckle_snr": (3.2, 2.5, 3.6),
    "frame_correlation": (0.94, 0.91, 0.97),
    "lv_area_change": (0.47, 0.23, 0.55),
    "lv_ed_area_px": (1800, 880, 2400),
}

TISSUE_LEVEL = 60  # grey level above which a 5×5 neighbourhood counts as tissue
DARK_LEVEL = 30


def speckle_snr(frames: Iterable[np.ndarray], window: int = 5) -> float:
    """Median of local mean/std over 5×5 windows whose mean exceeds the tissue level: frames [T, H, W].

    Frame by frame (the windows never span frames), so the float32 working arrays are a frame's, not the
    clip's: a served megapixel upload would otherwise hold seven float copies of its 24 sampled frames."""
    ratios = []
    for frame in frames:
        f = frame.astype(np.float32)
        mean = uniform_filter(f, size=window)
        sq = uniform_filter(f * f, size=window)
        std = np.sqrt(np.maximum(sq - mean * mean, 1e-6))
        tissue = mean > TISSUE_LEVEL
        ratios.append(mean[tissue] / std[tissue])
    ratios = np.concatenate(ratios) if ratios else np.empty(0, np.float32)
    return float(np.median(ratios)) if ratios.size else float("nan")


def frame_correlation(video: np.ndarray, mask: np.ndarray) -> float:
    """Median Pearson correlation of tissue pixels (time-mean above the tissue level) between consecutive
    frames: how much the speckle pattern persists frame to frame."""
    tissue = mask & (video.mean(axis=0) > TISSUE_LEVEL)
    if tissue.sum() < 20 or len(video) < 2:
        return float("nan")
    px = video[:, tissue].astype(np.float32)
    px -= px.mean(axis=1, keepdims=True)
    num = (px[1:] * px[:-1]).sum(axis=1)
    den = np.sqrt((px[1:] ** 2).sum(axis=1) * (px[:-1] ** 2).sum(axis=1)) + 1e-9
    return float(np.median(num / den))


def image_statistics(video: np.ndarray, frame_step: int = 4) -> dict[str, float]:
    """The realism statistics of one clip (uint8 [T, H, W]); spatial ones on every `frame_step`-th frame."""
    mask = estimate_sector_mask(video)
    sample = video[::frame_step]
    inside = sample[:, mask].astype(np.float32)
    return {
        "frames": float(len(video)),
        "sector_share": float(mask.mean()),
        "sector_mean": float(inside.mean()),
        "sector_std": float(inside.std()),
        "dark_share": float((inside < DARK_LEVEL).mean()),
        "speckle_snr": speckle_snr(sample),
        "frame_correlation": frame_correlation(video, mask),
    }


def global_statistics(video: np.ndarray, bins: int = 16) -> np.ndarray:
    """Time-averaged global statistics of a clip: mean, std and a normalised intensity histogram."""
    hist = np.histogram(video, bins=bins, range=(0, 256))[0] / video.size
    return np.array([video.mean(), video.std(), *hist])


def shortcut_r2(features: np.ndarray, target: np.ndarray, folds: int = 5) -> float:
    """Out-of-fold R² of a ridge regression from per-video features to a label (0 = no information)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
    pred = cross_val_predict(model, features, target, cv=KFold(folds, shuffle=True, random_state=0))
    return float(1 - np.sum((pred - target) ** 2) / np.sum((target - target.mean()) ** 2))


def contour_mask(chords: np.ndarray, shape: tuple[int, int] = (112, 112)) -> np.ndarray:
    """Pixels inside the LV contour traced by a chord block (long axis first): bool [H, W]."""
    import cv2

    polygon = np.concatenate([chords[1:, :2], chords[:0:-1, 2:]])
    mask = np.zeros(shape, np.uint8)
    cv2.fillPoly(mask, [np.round(polygon).astype(np.int32)], 1)
    return mask.astype(bool)


def cavity_emptying(video: np.ndarray, ed_mask: np.ndarray) -> float:
    """A non-learned EF proxy: 1 − min/max over frames of the dark (blood) share inside the ED contour."""
    dark = (video[:, ed_mask] < DARK_LEVEL).mean(axis=1)
    return float(1 - dark.min() / max(dark.max(), 1e-6))


def speckle_variance_share(noisy: np.ndarray, anatomy: np.ndarray) -> float:
    """Share of the pixel variance inside tissue that the speckle carries: the same clip rendered with and
    without speckle; tissue = time-mean of the speckle-free render above the tissue level."""
    tissue = anatomy.mean(axis=0) > TISSUE_LEVEL
    n, a = noisy[:, tissue].astype(np.float32), anatomy[:, tissue].astype(np.float32)
    return float(np.var(n - a) / np.var(n))


def chords_by_frame(rows) -> dict[int, np.ndarray]:
    """One file's VolumeTracings rows (a DataFrame) -> {frame: chord block [21, 4], long axis first}."""
    return {int(f): g[["X1", "Y1", "X2", "Y2"]].to_numpy(float) for f, g in rows.groupby("Frame")}


def ed_chords(rows) -> np.ndarray:
    """The end-diastolic chord block of one file's tracings: the traced frame of larger disc volume."""
    from ultrasound.cardiac import disc_volume

    return max(chords_by_frame(rows).values(), key=disc_volume)


def nuisance_correlations(table, target: str, numeric: tuple[str, ...], categorical: tuple[str, ...]) -> dict:
    """|r| of a label with each numeric factor, and the largest |r| with any level indicator of each
    categorical factor: {factor: |r|}."""
    y = table[target].to_numpy(float)
    out = {c: abs(float(np.corrcoef(table[c].to_numpy(float), y)[0, 1])) for c in numeric}
    for c in categorical:
        levels = table[c].unique()
        out[c] = max(abs(float(np.corrcoef((table[c] == v).to_numpy(float), y)[0, 1])) for v in levels)
    return out


def median_speckle_share(n_clips: int = 10, seed: int = 3) -> float:
    """Median speckle_variance_share over simulated adult clips (rendered with and without speckle)."""
    from ultrasound.simulator import render_study, sample_study

    rng = np.random.default_rng(seed)
    shares = []
    for i in range(n_clips):
        study = sample_study(i, "adult", seed, rng)
        shares.append(speckle_variance_share(render_study(study).video, render_study(study, 0.0).video))
    return float(np.median(shares))
