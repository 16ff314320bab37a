"""Where the scan sector is: from the pixels and, when the header has it, from SequenceOfUltrasoundRegions.

What tells the sector from everything else a scanner exports (text, bars, ECG traces, control strips):
- **Any change at all.** Tissue carries electronic noise and speckle that decorrelates a little from frame to
  frame even where nothing moves (a portable scanner's apical cine, still outside the heart, varies by 1-3
  grey levels). The black around the fan and every static overlay on it do not change: a codec encodes an
  unchanged block the same way each frame. So the threshold is low (MOTION_STD) and the moving area is
  opened (thin moving things, the ECG trace and a frame counter, are removed) before the largest component
  is taken and filled to its convex hull (a fan is convex; black blood pools inside it are kept).
- **The header's regions** (PS3.3 C.8.5.5): the bounding boxes of the 2D image regions narrow the search;
  they never widen it (the sector is always found in the pixels), and a region list that finds nothing, or
  one that is malformed or hostile (out of the frame, inverted, over the name only), is ignored and the
  whole frame searched. Their physical calibration (cm per pixel) is kept for the record.

A clip in which no moving component covers MIN_SECTOR_SHARE of the frame has no sector: `locate` returns
None and the clip is rejected (`sector_not_found`), since its pixels cannot be cleaned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MOTION_STD = 0.75  # grey levels of temporal std: tissue noise is above it, static overlays and black below
MEAN_FLOOR = 3.0  # grey levels: codec ringing in the black beside the fan edge moves too, but stays dimmer
MIN_SECTOR_SHARE = 0.05  # of the frame: a smaller moving component is an overlay, not the image
MAX_MOTION_FRAMES = 48  # frames sampled (evenly) for the temporal std
MAX_REGIONS = 16  # items read from SequenceOfUltrasoundRegions; a longer list is not a scanner's
IMAGE_FORMATS = {1}  # RegionSpatialFormat 2D (tissue or colour flow); M-mode, spectral, waveform are not
CM = 3  # PhysicalUnits code for centimetres


@dataclass(frozen=True)
class Region:
    """One 2D image region of the header, clamped to the frame: box (x0, y0, x1, y1) inclusive, and its
    calibration in cm per pixel when the header gives a plausible one."""

    box: tuple[int, int, int, int]
    cm_per_pixel: tuple[float, float] | None


@dataclass(frozen=True)
class Sector:
    """The scan sector: bool [H, W] mask, what found it ("pixels" or "regions"), the regions' calibration."""

    mask: np.ndarray
    source: str
    cm_per_pixel: tuple[float, float] | None = None

    def record(self, size: int) -> dict:
        """What the de-identification record says of it: its source, its share of the frame and, with a
        calibration, the millimetres per pixel of the size² output (the crop's longer side becomes size)."""
        ys, xs = np.nonzero(self.mask)
        side = max(int(ys.max() - ys.min()) + 1, int(xs.max() - xs.min()) + 1)
        out = {"source": self.source, "share_of_frame": round(float(self.mask.mean()), 4)}
        if self.cm_per_pixel is not None:
            out["output_mm_per_pixel"] = [round(10 * c * side / size, 4) for c in self.cm_per_pixel]
        return out


def _number(item, keyword: str) -> float | None:
    try:
        value = float(item.get(keyword))
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def image_regions(ds, shape: tuple[int, int]) -> list[Region]:
    """The 2D image regions of a DICOM header (`ds`, pydicom Dataset or None) for frames of `shape` (H, W).
    Items that are not 2D, lack a bound, are inverted or lie wholly outside the frame are skipped; bounds
    are clamped to the frame. Nothing in the header can raise here."""
    h, w = shape
    try:
        items = list(ds.get("SequenceOfUltrasoundRegions") or [])[:MAX_REGIONS] if ds is not None else []
    except Exception:  # a malformed sequence is as good as none
        return []
    regions = []
    for item in items:
        if _number(item, "RegionSpatialFormat") not in IMAGE_FORMATS:
            continue
        bounds = [_number(item, f"RegionLocation{k}") for k in ("MinX0", "MinY0", "MaxX1", "MaxY1")]
        if any(b is None for b in bounds):
            continue
        x0, y0, x1, y1 = (int(b) for b in bounds)  # type: ignore[arg-type]
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        units = (_number(item, "PhysicalUnitsXDirection"), _number(item, "PhysicalUnitsYDirection"))
        delta = (_number(item, "PhysicalDeltaX"), _number(item, "PhysicalDeltaY"))
        calibrated = units == (CM, CM) and all(d is not None and 1e-4 < abs(d) < 1.0 for d in delta)
        regions.append(Region((x0, y0, x1, y1), tuple(abs(d) for d in delta) if calibrated else None))
    return regions


def temporal_moments(frames: np.ndarray, max_frames: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, variance, maximum) over time of up to `max_frames` evenly sampled frames of a uint8 clip, each
    [H, W]; accumulated frame by frame (two float64 sums and a uint8 maximum, no float copy of the clip)."""
    t, h, w = frames.shape
    idx = np.unique(np.linspace(0, t - 1, min(t, max_frames)).round().astype(int))
    total = np.zeros((h, w), np.float64)
    squares = np.zeros((h, w), np.float64)
    high = np.zeros((h, w), np.uint8)
    for i in idx:
        total += frames[i]
        squares += np.square(frames[i], dtype=np.float64)
        np.maximum(high, frames[i], out=high)
    mean = total / len(idx)
    return mean, np.maximum(squares / len(idx) - mean * mean, 0.0), high


def _moving(frames: np.ndarray) -> np.ndarray:
    """uint8 [H, W]: 1 where the temporal std over evenly sampled frames exceeds MOTION_STD and the mean
    MEAN_FLOOR, opened."""
    import cv2

    h, w = frames.shape[1:]
    mean, var, _ = temporal_moments(frames, MAX_MOTION_FRAMES)
    moving = ((var > MOTION_STD**2) & (mean > MEAN_FLOOR)).astype(np.uint8)
    k = max(3, round(min(h, w) / 64) | 1)
    return cv2.morphologyEx(moving, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))


def _hull_of_largest(moving: np.ndarray) -> np.ndarray | None:
    import cv2

    h, w = moving.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(moving, connectivity=8)
    if n < 2:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < MIN_SECTOR_SHARE * h * w:
        return None
    points = np.argwhere(labels == best)[:, ::-1].astype(np.int32)
    filled = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(filled, cv2.convexHull(points), 1)
    return filled.astype(bool)


def locate(frames: np.ndarray, regions: list[Region] | tuple = ()) -> Sector | None:
    """The sector of a grey clip (uint8 [T, H, W]), searched inside the header's image regions first (when
    that finds one) and else in the whole frame; None when there is none (see the module's docstring)."""
    moving = _moving(frames)
    if regions:
        inside = np.zeros_like(moving)
        for region in regions:
            x0, y0, x1, y1 = region.box
            inside[y0 : y1 + 1, x0 : x1 + 1] = 1
        mask = _hull_of_largest(moving & inside)
        if mask is not None:
            hit = [r for r in regions if mask[r.box[1] : r.box[3] + 1, r.box[0] : r.box[2] + 1].any()]
            calibration = next((r.cm_per_pixel for r in hit if r.cm_per_pixel is not None), None)
            return Sector(mask, "regions", calibration)
    mask = _hull_of_largest(moving)
    return None if mask is None else Sector(mask, "pixels")
