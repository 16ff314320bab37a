"""Per-frame sampling of maps rendered at a few contraction levels: interpolate between the two levels that
bracket each frame's phase, and shift by the frame's bulk translation (bilinearly, at the sector's pixels
only), so a clip moves as a whole under the probe while the sector itself stays put.

The shift is one vector per frame, so every tap is a flat offset of the frame's pixel indices into the
level stack padded by `PAD` pixels (edge values): four gathers and four per-frame weights per level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PAD = 24  # pixels of edge padding: larger than any bulk translation the simulator draws


@dataclass(frozen=True)
class FrameMotion:
    """Where every frame samples the level maps: level pair and weight, and the shifted pixel positions."""

    lo: np.ndarray  # [T] lower contraction level
    hi: np.ndarray  # [T] upper level
    w: np.ndarray  # [T, 1] weight of the upper level
    ys: np.ndarray  # [T, n] source row of each sector pixel (float: pixel minus the shift)
    xs: np.ndarray  # [T, n] source column
    base: np.ndarray  # [T, n] flat index of each pixel's top-left tap in a padded [H + 2P, W + 2P] map
    fy: np.ndarray  # [T, 1] fractional part of the row shift
    fx: np.ndarray  # [T, 1]

    @classmethod
    def of(cls, level_pos: np.ndarray, shift: np.ndarray, mask: np.ndarray) -> FrameMotion:
        """Args: level_pos [T] fractional level per frame; shift [T, 2] (dx, dy) pixels; mask [H, W]."""
        if np.abs(shift).max(initial=0.0) >= PAD - 1:
            raise ValueError(f"a bulk shift of {np.abs(shift).max():.1f} px exceeds the padding ({PAD} px)")
        n_levels = int(np.ceil(level_pos.max())) + 1
        lo = np.clip(np.floor(level_pos).astype(int), 0, n_levels - 1)
        hi = np.minimum(lo + 1, n_levels - 1)
        w = (level_pos - lo).astype(np.float32)[:, None]
        py, px = np.nonzero(mask)
        sy = -shift[:, 1:2].astype(np.float32)
        sx = -shift[:, 0:1].astype(np.float32)
        ky, kx = np.floor(sy), np.floor(sx)
        width = mask.shape[1] + 2 * PAD
        base = (py[None, :] + PAD + ky.astype(np.intp)) * width + (px[None, :] + PAD + kx.astype(np.intp))
        ys = py[None, :].astype(np.float32) + sy
        xs = px[None, :].astype(np.float32) + sx
        return cls(lo, hi, w, ys, xs, base, sy - ky, sx - kx)

    def _taps(self, maps: np.ndarray, level: np.ndarray, nearest: bool) -> np.ndarray:
        """maps [L, H, W] sampled at every frame's shifted pixels of `level` [T]: [T, n]."""
        padded = np.pad(maps, ((0, 0), (PAD, PAD), (PAD, PAD)), mode="edge")
        plane = padded.shape[1] * padded.shape[2]
        flat = padded.reshape(-1)
        index = self.base + (level[:, None] * plane)
        width = padded.shape[2]
        if nearest:
            index = index + (self.fy >= 0.5) * width + (self.fx >= 0.5)
            return flat[index]
        top = flat[index] * (1 - self.fx) + flat[index + 1] * self.fx
        bottom = flat[index + width] * (1 - self.fx) + flat[index + width + 1] * self.fx
        return (top * (1 - self.fy) + bottom * self.fy).astype(np.float32)

    def sample(self, maps: np.ndarray, nearest: bool = False) -> np.ndarray:
        """A [L, H, W] level stack at every frame's sector pixels: [T, n]."""
        return self._taps(maps, self.lo, nearest) * (1 - self.w) + self._taps(maps, self.hi, nearest) * self.w

    def tissue_points(self, backmap: np.ndarray) -> np.ndarray:
        """Where each frame's sector pixels' tissue sat at end-diastole before the bulk motion moved it, from
        a [L, 2, H, W] displacement stack: (x, y) points [T, n, 2] for sampling tissue-bound speckle (the
        nearest displacement sample: the speckle lookup is nearest-neighbour too)."""
        dx = self.sample(backmap[:, 0], nearest=True)
        dy = self.sample(backmap[:, 1], nearest=True)
        return np.stack([self.xs + dx, self.ys + dy], axis=-1)
