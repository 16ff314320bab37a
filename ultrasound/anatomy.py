"""Heart anatomy per standard view as signed-distance shapes, and the tissue echogenicity map they make.

Every structure is a function of one number, the contraction phase (0 = end-diastole, 1 = end-systole), so a
clip is rendered at a few phase levels and frames interpolate between them. The LV cavity is the same
half-ellipse whose method-of-discs chords are written to VolumeTracings.csv, so the label lives in the pixels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

VIEWS = ("A4C", "A2C", "PLAX", "PSAX", "SUBCOSTAL")

# Relative echogenicity (linear intensity) of the tissue classes; myocardium is the 1.0 reference.
BLOOD = 0.0005
MYOCARDIUM = 1.0
PERICARDIUM = 4.0
EDGE = 0.9  # pixels of soft transition at a boundary


@dataclass(frozen=True)
class Heart:
    """One simulated heart in one view; lengths in pixels of the 112×112 frame, angles in radians."""

    view: str
    apex_x: float
    apex_y: float
    tilt: float  # rotation of the long axis from the beam centre line
    length: float  # LV long axis at end-diastole
    radius: float  # LV half-width at the base at end-diastole
    radial_shortening: float
    long_shortening: float
    wall: float  # myocardial thickness at end-diastole
    rv_scale: float = 1.0
    atria_scale: float = 1.0
    rv_shortening: float = 0.2
    atria_fill: float = 0.12  # atrial growth while the ventricles contract, independent of the LV's EF
    papillary: float = 0.0  # papillary-muscle radius as a share of the LV radius (apical views; 0 = none)
    leaflets: bool = False  # mitral leaflets drawn at the LV base

    @property
    def axis(self) -> np.ndarray:
        """Unit vector from the LV base towards the apex."""
        return np.array([np.sin(self.tilt), -np.cos(self.tilt)])

    def lv_at(self, phase: float) -> tuple[float, float]:
        """LV (length, radius) at a contraction phase; the apex stays put, the base moves."""
        return (
            self.length * (1 - self.long_shortening * phase),
            self.radius * (1 - self.radial_shortening * phase),
        )


def _local(x, y, cx, cy, ax, ay):
    """Coordinates along (u) and across (v) an axis through (cx, cy)."""
    dx, dy = x - cx, y - cy
    return dx * ax + dy * ay, dx * -ay + dy * ax


def ellipse_sdf(u, v, a, b):
    """Approximate signed distance (pixels) to an ellipse with semi-axes a (along u) and b (along v)."""
    q = np.sqrt((u / a) ** 2 + (v / b) ** 2) + 1e-6
    grad = np.sqrt((u / a**2) ** 2 + (v / b**2) ** 2) / q + 1e-6
    return (q - 1.0) / grad


def _half_ellipse_sdf(u, v, length, radius):
    """Cavity of an LV: the apex half of an ellipse closed by the base (mitral) plane at u = 0."""
    return np.maximum(ellipse_sdf(u, v, length, radius), -u)


def _lv(h: Heart, phase: float, x, y, offset=(0.0, 0.0)):
    length, radius = h.lv_at(phase)
    ax, ay = h.axis
    bx = h.apex_x + offset[0] - ax * length
    by = h.apex_y + offset[1] - ay * length
    u, v = _local(x, y, bx, by, ax, ay)
    return _half_ellipse_sdf(u, v, length, radius), (bx, by)


def _chamber(x, y, centre, axis, a, b):
    u, v = _local(x, y, centre[0], centre[1], axis[0], axis[1])
    return ellipse_sdf(u, v, a, b)


def cavities(h: Heart, phase: float, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """Signed distance of each blood pool of the view at one phase: list of [H, W] arrays."""
    ax, ay = h.axis
    nx, ny = -ay, ax  # towards the image right for an upward axis
    length, radius = h.lv_at(phase)
    atrial = h.atria_scale * (1 + h.atria_fill * phase)  # atria fill while the ventricles contract
    rv_k = h.rv_scale * (1 - h.rv_shortening * phase)
    lv, (bx, by) = _lv(h, phase, x, y)
    if h.papillary > 0 and h.view in ("A4C", "A2C"):  # a muscle bulging from the lateral wall at mid-cavity
        mid = (
            h.apex_x - ax * 0.55 * length + nx * 0.8 * radius,
            h.apex_y - ay * 0.55 * length + ny * 0.8 * radius,
        )
        lv = np.maximum(lv, -(np.hypot(x - mid[0], y - mid[1]) - h.papillary * radius))
    if h.view in ("A4C", "SUBCOSTAL"):
        sep = radius + 1.2 * h.wall + 0.8 * radius * h.rv_scale  # axis to axis: half-widths and septum
        rv_apex = (h.apex_x - nx * sep - ax * 0.2 * h.length, h.apex_y - ny * sep - ay * 0.2 * h.length)
        rv_len = 0.8 * h.length * rv_k
        rv_base = (rv_apex[0] - ax * rv_len, rv_apex[1] - ay * rv_len)
        u, v = _local(x, y, rv_base[0], rv_base[1], ax, ay)
        rv = _half_ellipse_sdf(u, v, rv_len, 0.8 * radius * rv_k)
        la_a, ra_a = 0.36 * h.length * atrial, 0.3 * h.length * atrial
        la = _chamber(x, y, (bx - ax * (h.wall + la_a), by - ay * (h.wall + la_a)), (ax, ay), la_a, radius)
        ra_c = (rv_base[0] - ax * (h.wall + ra_a), rv_base[1] - ay * (h.wall + ra_a))
        ra = _chamber(x, y, ra_c, (ax, ay), ra_a, 0.85 * radius)
        return [lv, rv, la, ra]
    if h.view == "A2C":
        la_a = 0.4 * h.length * atrial
        la = _chamber(x, y, (bx - ax * (h.wall + la_a), by - ay * (h.wall + la_a)), (ax, ay), la_a, radius)
        return [lv, la]
    if h.view == "PLAX":
        # long axis runs across the image; the RV is a band nearer the probe, the aorta leaves the base
        # towards the probe side and the left atrium lies behind it (deeper)
        up = (-nx, -ny) if ny > 0 else (nx, ny)
        mid = (h.apex_x - ax * 0.5 * length, h.apex_y - ay * 0.5 * length)
        off = radius + 1.8 * h.wall + 0.35 * radius * rv_k
        rv = _chamber(
            x, y, (mid[0] + up[0] * off, mid[1] + up[1] * off), (ax, ay), 0.5 * length, 0.35 * radius * rv_k
        )
        ao_c = (
            bx - ax * 0.45 * radius + up[0] * 0.55 * radius,
            by - ay * 0.45 * radius + up[1] * 0.55 * radius,
        )
        ao = _chamber(x, y, ao_c, (ax, ay), 0.9 * radius, 0.42 * radius)
        la_c = (bx - ax * 0.9 * radius - up[0] * 1.1 * radius, by - ay * 0.9 * radius - up[1] * 1.1 * radius)
        la = _chamber(x, y, la_c, (ax, ay), 0.75 * radius * atrial, 0.75 * radius * atrial)
        return [lv, rv, ao, la]
    if h.view == "PSAX":
        # cross-section at the papillary-muscle level, a third of the way from the base
        r = radius * np.sqrt(1 - 0.35**2)
        cx, cy = h.apex_x, h.apex_y
        ring = np.hypot(x - cx, y - cy) - r
        for ang in (2.2, 4.0):  # papillary muscles bulge into the cavity
            px, py = cx + 0.75 * r * np.cos(ang), cy + 0.75 * r * np.sin(ang)
            ring = np.maximum(ring, -(np.hypot(x - px, y - py) - 0.22 * radius))
        rv_c = (cx - 1.35 * r - 1.5 * h.wall, cy - 0.55 * r)
        rv = _chamber(x, y, rv_c, (np.cos(0.6), np.sin(0.6)), 0.55 * r * rv_k, 1.25 * r * rv_k)
        return [ring, rv]
    raise ValueError(f"unknown view {h.view!r}; expected one of {', '.join(VIEWS)}")


def _segment_distance(x, y, p0, p1):
    """Distance of every pixel to the segment p0–p1."""
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    t = np.clip(((x - p0[0]) * dx + (y - p0[1]) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return np.hypot(x - p0[0] - t * dx, y - p0[1] - t * dy)


def leaflets(h: Heart, phase: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Echogenicity weight [H, W] of the two mitral leaflets: hinged at the base corners, swinging from
    across the base (closed, at end-diastole and end-systole) towards the apex (open, in between)."""
    length, radius = h.lv_at(phase)
    ax, ay = h.axis
    nx, ny = -ay, ax
    bx, by = h.apex_x - ax * length, h.apex_y - ay * length
    opening = 4.0 * phase * (1.0 - phase) if phase <= 1 else 0.0
    weight = np.zeros_like(x)
    for side in (-1.0, 1.0):
        hinge = (bx + side * nx * radius, by + side * ny * radius)
        across = np.array([-side * nx, -side * ny])
        direction = (1 - opening) * across + opening * np.array([ax, ay])
        direction /= np.linalg.norm(direction) + 1e-9
        tip = (hinge[0] + 0.75 * radius * direction[0], hinge[1] + 0.75 * radius * direction[1])
        weight = np.maximum(weight, np.exp(-((_segment_distance(x, y, hinge, tip) / 0.8) ** 2)))
    return weight


def echogenicity(
    h: Heart,
    phase: float,
    x: np.ndarray,
    y: np.ndarray,
    background: np.ndarray,
    wall_scale: float,
    specular: Callable[[np.ndarray], np.ndarray] | None = None,
) -> np.ndarray:
    """Tissue echogenicity (linear) at one phase: background tissue, myocardium, pericardium, blood.

    Args:
        background: static [H, W] echogenicity of the tissue around the heart (textured).
        wall_scale: myocardial thickness factor at this phase (walls thicken in systole).
        specular: maps the blood pools' signed distance to each wall pixel's echo strength (endocardial
            dropout where a wall runs along the beam); None echoes every wall fully.
    """
    sdf = np.minimum.reduce(cavities(h, phase, x, y))
    wall = h.wall * wall_scale
    blood = 1.0 / (1.0 + np.exp(sdf / EDGE))
    myo = 1.0 / (1.0 + np.exp((sdf - wall) / EDGE))
    myo_level = MYOCARDIUM * specular(sdf) if specular is not None else MYOCARDIUM
    peri = np.exp(-(((sdf - wall - 1.5) / 1.3) ** 2))
    if h.view == "PSAX":  # the ring's outer wall only; the RV free wall is thinner
        peri *= 0.7
    tissue = background * (1 - myo) + myo_level * myo + PERICARDIUM * peri * (1 - myo)
    tissue = tissue * (1 - blood) + BLOOD * blood
    if h.leaflets and h.view in ("A4C", "A2C", "PLAX"):
        valve = 0.8 * MYOCARDIUM * leaflets(h, phase, x, y)
        tissue = np.maximum(tissue, valve)
    return tissue.astype(np.float32)
