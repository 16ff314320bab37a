"""Scan geometry of a phased-array sector: the fan mask, depth and angle maps, and the scan conversion
from the beam (polar) grid to the 112×112 Cartesian frame.

Pixel coordinates are (x right, y down); the probe apex sits at the top of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

FRAME_SIZE = 112


@dataclass(frozen=True)
class Sector:
    """A fan-shaped scan sector.

    Attributes:
        apex_x, apex_y: probe apex in pixels (apex_y may be slightly negative: above the frame).
        radius: imaging depth in pixels (distance from the apex to the far arc).
        half_angle: half the opening angle, radians.
        size: frame height and width in pixels.
    """

    apex_x: float = 56.0
    apex_y: float = 0.0
    radius: float = 106.0
    half_angle: float = 0.75
    size: int = FRAME_SIZE

    @cached_property
    def _polar(self) -> tuple[np.ndarray, np.ndarray]:
        yy, xx = np.mgrid[0 : self.size, 0 : self.size].astype(np.float32)
        dx, dy = xx - self.apex_x, yy - self.apex_y
        return np.hypot(dx, dy), np.arctan2(dx, dy)

    @property
    def depth(self) -> np.ndarray:
        """Distance of each pixel from the apex, pixels: [H, W]."""
        return self._polar[0]

    @property
    def angle(self) -> np.ndarray:
        """Beam angle of each pixel, radians, 0 straight down, positive to the image right: [H, W]."""
        return self._polar[1]

    @cached_property
    def mask(self) -> np.ndarray:
        """Pixels inside the fan: bool [H, W]."""
        r, th = self._polar
        return (r <= self.radius) & (np.abs(th) <= self.half_angle) & (r >= 1.0)

    @cached_property
    def normalised_depth(self) -> np.ndarray:
        """Depth as a fraction of the imaging depth, 0 at the apex, 1 at the far arc: [H, W]."""
        return np.clip(self.depth / self.radius, 0.0, 1.0)

    def polar_index(self, n_depth: int, n_angle: int) -> tuple[np.ndarray, np.ndarray]:
        """Nearest beam-grid sample of every pixel, for scan conversion: two int [H, W] index maps."""
        return self._beam_index(*self._polar, n_depth, n_angle)

    def polar_index_of(
        self, x: np.ndarray, y: np.ndarray, n_depth: int, n_angle: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Nearest beam-grid sample of arbitrary points (pixel coordinates), any shape."""
        dx, dy = x - self.apex_x, y - self.apex_y
        return self._beam_index(np.hypot(dx, dy), np.arctan2(dx, dy), n_depth, n_angle)

    def _beam_index(
        self, r: np.ndarray, th: np.ndarray, n_depth: int, n_angle: int
    ) -> tuple[np.ndarray, np.ndarray]:
        ri = np.clip(np.rint(r / self.radius * (n_depth - 1)), 0, n_depth - 1).astype(np.intp)
        ti = (th + self.half_angle) / (2 * self.half_angle) * (n_angle - 1)
        ti = np.clip(np.rint(ti), 0, n_angle - 1).astype(np.intp)
        return ri, ti


def estimate_sector_mask(video: np.ndarray, threshold: int = 10) -> np.ndarray:
    """The scan region of a video as the pixels whose maximum over time exceeds `threshold`.

    This is the definition used for EchoNet-Dynamic's sector statistics. A dark wedge inside the fan (an
    acoustic dropout) is filled back in by closing the mask row by row between its outermost pixels, so a
    dropout counts as part of the sector rather than shrinking it.

    Args:
        video: uint8 [T, H, W].
    Returns:
        bool [H, W].
    """
    peak = video.max(axis=0) > threshold
    filled = np.zeros_like(peak)
    for y in range(peak.shape[0]):
        cols = np.flatnonzero(peak[y])
        if cols.size:
            filled[y, cols[0] : cols[-1] + 1] = True
    return filled


def sector_apex_and_span(mask: np.ndarray) -> tuple[float, float, float, float]:
    """Apex (x, y) and the beam-angle range (min, max, radians) of a fan-shaped mask."""
    rows = np.flatnonzero(mask.any(axis=1))
    top = rows[0]
    cols = np.flatnonzero(mask[top])
    ax, ay = float(cols.mean()), float(top) - 1.0
    yy, xx = np.nonzero(mask)
    theta = np.arctan2(xx - ax, yy - ay)
    return ax, ay, float(np.percentile(theta, 1)), float(np.percentile(theta, 99))
