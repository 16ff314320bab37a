"""Acoustic perturbations of a B-mode clip, applied inside the scan sector with parameters fixed per video.

Depth attenuation and Gaussian shadow are EchoJEPA's robustness test (shared/notes/echo-domain.md):
depth attenuation through usaugment's DepthAttenuation; the shadow with the same formula as usaugment's
GaussianShadow but with its centre drawn in U(0.2, 0.8)·(W, H) once per video, as EchoJEPA specifies
(usaugment draws the centre anywhere, per call). Gain drift, reduced dynamic range, blur and sector dropout
are the other degradations that production monitoring must recognise.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from ultrasound.geometry import estimate_sector_mask, sector_apex_and_span
from ultrasound.kinds import PERTURBATION_KINDS, SEVERITIES

# kind -> severity -> parameters; the first two are EchoJEPA's exact settings
PARAMETERS: dict[str, dict[str, dict[str, float]]] = {
    "depth_attenuation": {
        s: {"attenuation_rate": r} for s, r in zip(SEVERITIES, (0.75, 1.5, 2.15), strict=True)
    },
    "gaussian_shadow": {
        s: {"strength": k, "sigma": g}
        for s, k, g in zip(SEVERITIES, (0.4, 0.6, 0.8), (0.15, 0.2, 0.25), strict=True)
    },
    "gain_drift": {s: {"factor": f} for s, f in zip(SEVERITIES, (0.8, 0.65, 0.5), strict=True)},
    # displayed dynamic range narrowed from 60 dB to this many dB: weak echoes drop to black
    "dynamic_range": {s: {"displayed_db": d} for s, d in zip(SEVERITIES, (48.0, 40.0, 32.0), strict=True)},
    # lateral PSF width in pixels at mid-depth; axial is 40 % of it; both grow with depth
    "blur": {s: {"lateral_sigma": g} for s, g in zip(SEVERITIES, (0.8, 1.4, 2.0), strict=True)},
    "sector_dropout": {s: {"wedge_fraction": w} for s, w in zip(SEVERITIES, (0.08, 0.15, 0.25), strict=True)},
}
REFERENCE_DYNAMIC_RANGE_DB = 60.0


def check_kind(kind: str, severity: str) -> None:
    """Raise ValueError naming the bad value when a kind or severity is unknown."""
    if kind not in PERTURBATION_KINDS:
        raise ValueError(
            f"unknown perturbation kind {kind!r}; expected one of {', '.join(PERTURBATION_KINDS)}"
        )
    if severity not in SEVERITIES:
        raise ValueError(f"unknown severity {severity!r}; expected one of {', '.join(SEVERITIES)}")


def perturb(
    video: np.ndarray, kind: str, severity: str, rng: np.random.Generator | int | None = None
) -> np.ndarray:
    """Apply one perturbation to every frame of a clip; random parts (centre, wedge) are drawn once.

    Args:
        video: uint8 [T, H, W].
        kind: one of PERTURBATION_KINDS.
        severity: low, medium or high.
        rng: generator or seed for the per-video draw.
    Returns:
        uint8 [T, H, W]; pixels outside the scan sector are unchanged.
    """
    check_kind(kind, severity)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    video = np.asarray(video)
    mask = estimate_sector_mask(video)
    p = PARAMETERS[kind][severity]
    v = video.astype(np.float32)
    if kind == "depth_attenuation":
        out = v * _depth_attenuation_map(mask, p["attenuation_rate"])
    elif kind == "gaussian_shadow":
        out = v * shadow_map(mask, p["strength"], p["sigma"], rng)
    elif kind == "gain_drift":
        out = v * p["factor"]
    elif kind == "dynamic_range":
        ratio = REFERENCE_DYNAMIC_RANGE_DB / p["displayed_db"]
        out = v * ratio - 255.0 * (ratio - 1.0)
    elif kind == "blur":
        out = _depth_blur(v, mask, p["lateral_sigma"])
    else:
        out = v * ~_wedge(mask, p["wedge_fraction"], rng)
    out = np.where(mask, out, v)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _depth_attenuation_map(mask: np.ndarray, rate: float) -> np.ndarray:
    """usaugment's DepthAttenuation map, A = exp(−r·d), evaluated once on a unit image."""
    from usaugment.albumentations import DepthAttenuation

    transform = DepthAttenuation(attenuation_rate=rate, max_attenuation=0.0, p=1.0)
    ones = np.ones(mask.shape, dtype=np.float32)
    return transform(image=ones, scan_mask=mask.astype(np.uint8))["image"].astype(np.float32)


def shadow_map(mask: np.ndarray, strength: float, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """S = 1 − s·exp(−(x−μx)²/2σx² − (y−μy)²/2σy²), μ ~ U(0.2, 0.8)·(W, H), σ a fraction of W and H."""
    h, w = mask.shape
    mu_x, mu_y = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    sx, sy = sigma * w, sigma * h
    return 1.0 - strength * np.exp(-((xx - mu_x) ** 2 / (2 * sx**2) + (yy - mu_y) ** 2 / (2 * sy**2)))


def _depth_blur(v: np.ndarray, mask: np.ndarray, lateral: float) -> np.ndarray:
    """Anisotropic blur, wider across the beam than along it, widening with depth (three depth bands)."""
    h = mask.shape[0]
    depth = np.linspace(0.0, 1.0, h, dtype=np.float32)[None, :, None]
    scales = (0.5, 1.0, 1.5)
    bands = [gaussian_filter(v, sigma=(0, 0.4 * lateral * k, lateral * k)) for k in scales]
    # blend: near field uses the narrow PSF, far field the wide one
    w_far = np.clip(depth * 2 - 1, 0, 1)
    w_near = np.clip(1 - depth * 2, 0, 1)
    return bands[0] * w_near + bands[1] * (1 - w_near - w_far) + bands[2] * w_far


def _wedge(mask: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """A dead-element wedge from the apex to the far field, inside the fan: bool [H, W]."""
    ax, ay, lo, hi = sector_apex_and_span(mask)
    span = hi - lo
    width = fraction * span
    centre = rng.uniform(lo + 0.15 * span + width / 2, hi - 0.15 * span - width / 2)
    yy, xx = np.mgrid[0 : mask.shape[0], 0 : mask.shape[1]]
    theta = np.arctan2(xx - ax, yy - ay)
    return (np.abs(theta - centre) <= width / 2) & mask
