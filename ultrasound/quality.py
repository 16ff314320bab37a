"""Per-video image-quality metrics, cheap enough to run on every served request (a few ms per clip).

Spatial metrics use up to `MAX_FRAMES` evenly spaced frames. Each metric is named so an operator can read it:
brightness and contrast of the sector, displayed dynamic range, speckle SNR in tissue, sharpness, the
intensity-versus-depth slope, the shadowed and dropped-out shares of the sector, coverage, frame rate, size.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator

import numpy as np
from scipy.ndimage import gaussian_filter, maximum_filter, uniform_filter

from ultrasound.geometry import estimate_sector_mask, sector_apex_and_span
from ultrasound.realism import DARK_LEVEL, speckle_snr
from ultrasound.video_io import DecodeCancelled

MAX_FRAMES = 24
DEPTH_BANDS = 8
ANGLE_BINS = 40

METRICS = (
    "brightness",
    "contrast",
    "dynamic_range",
    "dark_share",
    "speckle_snr",
    "sharpness",
    "depth_slope",
    "near_depth_slope",
    "shadowed_share",
    "dimmed_tissue_share",
    "dropout_share",
    "sector_coverage",
    "frame_rate",
    "height",
    "width",
    "frame_count",
)


def _polar(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    ax, ay, lo, hi = sector_apex_and_span(mask)
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]].astype(np.float32)
    depth = np.hypot(xx - ax, yy - ay)
    theta = np.arctan2(xx - ax, yy - ay)
    return depth / max(float(depth[mask].max()), 1.0), theta, lo, hi


def _depth_slopes(
    envelope: np.ndarray, mask: np.ndarray, depth: np.ndarray, theta: np.ndarray
) -> tuple[float, float]:
    """Slopes of log tissue brightness against normalised depth over 0.15–0.95 and over 0.15–0.55 (the
    near field above 0.15 holds clutter). Attenuation dims from the top on; a deep shadow only below.

    Each depth band's brightness is its brightest beam direction (75th percentile per angle bin), so a
    shadow over some beams leaves the slope alone while attenuation, which dims every beam, steepens it."""
    inner = mask & (depth > 0.15)
    if inner.sum() < 50:
        return 0.0, 0.0
    lo, hi = np.percentile(theta[inner], [8, 92])
    angle_bins = np.clip(((theta - lo) / max(hi - lo, 1e-6) * 5).astype(int), -1, 5)
    xs, ys = [], []
    for d0 in np.linspace(0.15, 0.95, DEPTH_BANDS, endpoint=False):
        band = inner & (depth >= d0) & (depth < d0 + 0.8 / DEPTH_BANDS)
        levels = [
            np.percentile(envelope[band & (angle_bins == b)], 75)
            for b in range(5)
            if (band & (angle_bins == b)).sum() >= 6
        ]
        if levels:
            xs.append(d0 + 0.05)
            ys.append(np.log(max(levels) + 8.0))
    x, y = np.array(xs), np.array(ys)
    near = x < 0.55
    overall = float(np.polyfit(x, y, 1)[0]) if len(x) >= 3 else 0.0
    return overall, (float(np.polyfit(x[near], y[near], 1)[0]) if near.sum() >= 3 else overall)


def _shadowed_share(envelope: np.ndarray, mask: np.ndarray, depth: np.ndarray, edge: np.ndarray) -> float:
    """Share of the inner sector where tissue is shadowed: its local envelope, cavities bridged by a max
    filter, falls below 60 % of the brightest tissue at the same depth (ring 90th percentile), while the
    pixel's own 5x5 envelope keeps at least 20 % of that level.

    The second condition counts dimmed tissue, not the blood pool: a cavity wider than the max filter stays
    near black (or at a site's clutter grey, ~10 % of tissue) and made up most of a clean clip's share
    (median 0.08–0.10, up to 0.28 in a wide A4C cavity), so a shadow over part of the tissue hardly stood
    out. Dimmed by a shadow (S = 1 − s·exp(…), 0.2 at the centre at high), tissue keeps its share of the
    ring's level times S; a dead wedge (black) or attenuation (every beam of a ring) does not count."""
    bridged = gaussian_filter(maximum_filter(envelope, size=11), 3.0)
    local = uniform_filter(envelope, size=5)
    ratio = np.ones_like(bridged)
    own = np.ones_like(bridged)
    rings = np.minimum((depth * 10).astype(int), 9)
    inner = mask & (depth > 0.15) & (depth < 0.92) & ~edge
    for r in range(10):
        ring = inner & (rings == r)
        if ring.sum() >= 10:
            ratio[ring] = bridged[ring] / (np.percentile(bridged[ring], 90) + 1.0)
            own[ring] = local[ring] / (np.percentile(envelope[ring], 90) + 1.0)
    shadowed = (ratio < 0.6) & (own > 0.2)
    return float(shadowed[inner].mean()) if inner.any() else 0.0


def _each(frames: Iterable[np.ndarray], cancel: threading.Event | None) -> Iterator[np.ndarray]:
    """`frames` one by one, stopping (DecodeCancelled) once `cancel` is set: a served request that timed
    out gives its thread back within one frame's filtering, not after the whole video's metrics."""
    for frame in frames:
        _stop_if(cancel)
        yield frame


def _stop_if(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise DecodeCancelled("quality metrics")


def _detail(sample: np.ndarray, mask: np.ndarray, cancel: threading.Event | None = None) -> np.ndarray:
    """|pixel - its 3x3 mean| inside the sector, [T, mask pixels] float32, computed frame by frame (the
    filter never spans frames) so the working memory is a frame's, not the sample's."""
    out = np.empty((len(sample), int(mask.sum())), np.float32)
    for frame, row in zip(_each(sample, cancel), out, strict=True):
        row[...] = np.abs(frame - uniform_filter(frame, size=3))[mask]
    return out


def _dimmed_tissue_share(
    sample: np.ndarray, inner: np.ndarray, cancel: threading.Event | None = None
) -> float:
    """Share of the inner sector showing tissue texture at reduced brightness.

    Log compression gives speckle a constant spread in grey levels, so naturally dim tissue has a high
    local std/mean; a multiplicative loss applied to the displayed image (shadow, attenuation, low gain)
    shrinks mean and std together, leaving dim pixels with the low std/mean of bright tissue. Frame by
    frame (the 5x5 windows never span frames): the same count with a frame's working memory."""
    if not inner.any():
        return 0.0
    dimmed_pixels = 0
    for frame in _each(sample, cancel):
        mean = uniform_filter(frame, size=5)
        sq = uniform_filter(frame * frame, size=5)
        cv = np.sqrt(np.maximum(sq - mean * mean, 0.0)) / (mean + 1e-3)
        dimmed_pixels += int(((mean > 8) & (mean < 55) & (cv < 0.35))[inner].sum())
    return dimmed_pixels / (len(sample) * int(inner.sum()))


def _dropout_share(peak: np.ndarray, mask: np.ndarray, theta: np.ndarray, lo: float, hi: float) -> float:
    """Share of beam angles whose echoes are almost absent over the whole clip (dead elements)."""
    bins = np.clip(((theta - lo) / max(hi - lo, 1e-6) * ANGLE_BINS).astype(int), 0, ANGLE_BINS - 1)
    means = np.array(
        [peak[mask & (bins == b)].mean() if (mask & (bins == b)).any() else np.nan for b in range(ANGLE_BINS)]
    )
    means = means[np.isfinite(means)]
    if means.size == 0:
        return 0.0
    return float((means < 0.15 * np.median(means)).mean())


def quality_metrics(
    frames: np.ndarray, fps: float = 50.0, cancel: threading.Event | None = None
) -> dict[str, float]:
    """Image-quality metrics of one clip.

    Args:
        frames: uint8 [T, H, W].
        fps: frame rate of the clip.
        cancel: checked before each sampled frame's filtering (the costly part on a megapixel upload).
    Returns:
        {metric: value} for every name in METRICS.
    Raises:
        DecodeCancelled: `cancel` was set before the metrics were complete.
    """
    frames = np.asarray(frames)
    _stop_if(cancel)  # each whole-sample reduction below takes up to ~0.4 s on a megapixel upload
    t, h, w = frames.shape
    idx = np.unique(np.linspace(0, t - 1, min(t, MAX_FRAMES)).astype(int))
    sample = frames[idx].astype(np.float32)
    mask = estimate_sector_mask(frames)
    if mask.sum() < 50:  # a blank or constant clip: nothing to measure inside a sector
        mask = np.ones((h, w), dtype=bool)
    inside = sample[:, mask]
    _stop_if(cancel)
    mean, std = float(inside.mean()), float(inside.std())
    depth, theta, lo, hi = _polar(mask)
    _stop_if(cancel)
    envelope = np.percentile(sample, 90, axis=0)
    margin = 0.1 * (hi - lo)  # the fan's lateral edges are dim in every clip
    edge = (theta < lo + margin) | (theta > hi - margin)
    detail = _detail(sample, mask, cancel).mean()
    _stop_if(cancel)
    p1, p99 = np.percentile(inside, [1, 99])
    slope, near_slope = _depth_slopes(envelope, mask, depth, theta)
    return {
        "brightness": mean,
        "contrast": std,
        "dynamic_range": float(p99 - p1),
        "dark_share": float((inside < DARK_LEVEL).mean()),
        "speckle_snr": _finite(speckle_snr(_each(sample, cancel))),
        "sharpness": float(detail / (std + 1.0)),
        "depth_slope": slope,
        "near_depth_slope": near_slope,
        "shadowed_share": _shadowed_share(envelope, mask, depth, edge),
        "dimmed_tissue_share": _dimmed_tissue_share(sample, mask & (depth > 0.12) & (depth < 0.95), cancel),
        "dropout_share": _dropout_share(frames.max(axis=0).astype(np.float32), mask, theta, lo, hi),
        "sector_coverage": float(mask.mean()),
        "frame_rate": float(fps),
        "height": float(h),
        "width": float(w),
        "frame_count": float(t),
    }


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0
