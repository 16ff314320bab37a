"""Per-study acquisition nuisance: what a sonographer and a scanner change from one study to the next
without changing the heart (issue 15, item 1).

Drawn once per study from the render's random stream, independently of the EF:
- display: overall gain over several dB, a dynamic range of 40–60 dB, a time-gain-compensation curve (a
  residual slope plus a smooth bump, as the TGC sliders leave it);
- clutter: a static haze in the image frame (reverberation and side lobes, strongest under the probe), so
  the blood pool is not uniformly black;
- endocardial dropout: a wall echoes less where it runs parallel to the beam (specular reflection), as an
  A4C lateral wall does;
- motion: breathing, the heart's swing with each beat and the hand's drift move everything under the probe,
  and speckle moves with the myocardium (`tissue_backmap`) instead of decorrelating in place;
- timing: the scanner's acquisition frame rate (30–100 fps) and beat-to-beat heart-rate variability; clips
  are resampled to the platform's 50 fps by holding the latest acquired frame, as an export does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from ultrasound.anatomy import Heart
from ultrasound.geometry import Sector


@dataclass(frozen=True)
class Acquisition:
    """One study's acquisition settings (dB are display decibels, lengths in pixels)."""

    gain_db: float  # added to the device's gain
    dynamic_range_db: float
    tgc_slope_db: float  # residual near-to-far brightness change after TGC
    tgc_bump_db: float  # a smooth bump of the TGC curve ...
    tgc_bump_depth: float  # ... centred at this fraction of the imaging depth
    clutter_db: float  # haze level relative to myocardium
    specular: float  # 0: walls echo only where they face the beam, 1: no dropout
    resp_amplitude: float  # respiratory translation, pixels
    resp_period_s: float
    resp_phase: float
    swing: float  # translation of the whole heart over each beat (pixels at end-systole) ...
    swing_angle: float  # ... in this direction (radians from the image right)
    drift: float  # slow probe drift over the clip, pixels per second ...
    drift_angle: float  # ... in this direction
    source_fps: float
    hr_variability: float


def draw_acquisition(rng: np.random.Generator, device_dr_db: float) -> Acquisition:
    """Draw a study's acquisition settings (the device's dynamic range is the centre of the study's)."""
    return Acquisition(
        gain_db=float(np.clip(rng.normal(-0.5, 2.0), -5.0, 4.0)),
        dynamic_range_db=float(np.clip(device_dr_db + rng.normal(-3.0, 5.0), 40.0, 60.0)),
        tgc_slope_db=float(rng.normal(0.0, 2.0)),
        tgc_bump_db=float(rng.normal(0.0, 1.5)),
        tgc_bump_depth=float(rng.uniform(0.2, 0.8)),
        clutter_db=float(rng.uniform(-38.0, -21.0)),
        specular=float(rng.uniform(0.45, 0.95)),
        resp_amplitude=float(rng.uniform(0.0, 2.5)),
        resp_period_s=float(rng.uniform(3.0, 5.5)),
        resp_phase=float(rng.uniform(0.0, 2 * np.pi)),
        swing=float(rng.uniform(0.0, 7.0)),
        swing_angle=float(rng.uniform(0.0, 2 * np.pi)),
        drift=float(rng.uniform(0.0, 1.0)),
        drift_angle=float(rng.uniform(0.0, 2 * np.pi)),
        source_fps=float(rng.choice([30.0, 40.0, 50.0, 50.0, 60.0, 75.0, 100.0]) + rng.uniform(-2.0, 2.0)),
        hr_variability=float(rng.uniform(0.02, 0.08)),
    )


def tgc_gain(sector: Sector, acq: Acquisition, device_residual_db: float) -> np.ndarray:
    """Linear gain map [H, W] of the residual attenuation after TGC: slope plus a Gaussian bump in depth."""
    d = sector.normalised_depth
    db = (device_residual_db + acq.tgc_slope_db) * (d - 0.5)
    db = db + acq.tgc_bump_db * np.exp(-(((d - acq.tgc_bump_depth) / 0.15) ** 2))
    return (10.0 ** (db / 10.0)).astype(np.float32)


def clutter_field(sector: Sector, acq: Acquisition, rng: np.random.Generator) -> np.ndarray:
    """Static haze echogenicity [H, W]: smooth, patchy, strongest near the probe (reverberation)."""
    patch = gaussian_filter(rng.standard_normal((sector.size, sector.size)).astype(np.float32), 4.0)
    patch = np.exp(0.8 * patch / (patch.std() + 1e-6))
    near = 0.35 + 1.3 * np.exp(-sector.normalised_depth / 0.3)
    return (10.0 ** (acq.clutter_db / 10.0) * near * patch).astype(np.float32)


def specular_factor(sdf: np.ndarray, sector: Sector, specular: float) -> np.ndarray:
    """How strongly each wall pixel echoes [H, W]: |cos| of the angle between the beam and the wall normal
    (the signed-distance gradient), floored at `specular`."""
    gy, gx = np.gradient(sdf)
    norm = np.hypot(gx, gy) + 1e-6
    dx, dy = np.sin(sector.angle), np.cos(sector.angle)  # beam direction (angle 0 points straight down)
    facing = np.abs(gx * dx + gy * dy) / norm
    return (specular + (1.0 - specular) * facing).astype(np.float32)


def bulk_motion(acq: Acquisition, times: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Translation (dx, dy) in pixels per frame [T, 2] of everything under the probe: breathing (mostly
    along the beam), the heart's swing with each beat (its amplitude independent of the EF, so how much the
    picture moves does not tell how well the LV empties) and a slow drift of the sonographer's hand."""
    wave = acq.resp_amplitude * np.sin(2 * np.pi * times / acq.resp_period_s + acq.resp_phase)
    swing = acq.swing * np.asarray(phase, dtype=np.float64)
    drift = acq.drift * (times - times.mean())
    dx = 0.35 * wave + swing * np.cos(acq.swing_angle) + drift * np.cos(acq.drift_angle)
    dy = wave + swing * np.sin(acq.swing_angle) + drift * np.sin(acq.drift_angle)
    return np.stack([dx, dy], axis=1)


def tissue_backmap(heart: Heart, phase: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Where each pixel's tissue sat at end-diastole, as a displacement [2, H, W] (dx, dy) to add.

    The LV shortens about its fixed apex along the axis and narrows across it; the myocardium around it moves
    with the cavity, fading over about two wall thicknesses, so speckle travels with the walls."""
    length, radius = heart.lv_at(phase)
    ax, ay = heart.axis
    nx, ny = -ay, ax
    dx0, dy0 = x - heart.apex_x, y - heart.apex_y
    s = -(dx0 * ax + dy0 * ay)  # distance from the apex towards the base
    v = dx0 * nx + dy0 * ny
    # inside the LV the motion scales with the distance from the apex / the axis; beyond the base and the
    # walls it is the base's and the wall's own motion (the annulus carries the atria with it)
    ds = np.clip(s, 0.0, length) * (heart.length / max(length, 1e-6) - 1.0)
    dv = np.clip(v, -radius, radius) * (heart.radius / max(radius, 1e-6) - 1.0)
    # nearness to the LV: 1 inside the cavity and its wall, fading outside
    q = np.hypot(np.maximum(s - length, 0.0) + np.maximum(-s, 0.0), np.maximum(np.abs(v) - radius, 0.0))
    near = np.exp(-np.maximum(q - heart.wall, 0.0) / (2.0 * heart.wall))
    ex = (-ds * ax + dv * nx) * near
    ey = (-ds * ay + dv * ny) * near
    return np.stack([ex, ey]).astype(np.float32)


def held_frames(n_frames: int, fps: float, source_fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Acquired-frame index and acquisition time of every output frame when a `source_fps` acquisition is
    exported at `fps` by holding the latest acquired frame; above `fps` every output frame is a fresh one."""
    t_out = np.arange(n_frames) / fps
    if source_fps >= fps:
        return np.arange(n_frames), t_out
    index = np.floor(t_out * source_fps + 1e-9).astype(int)
    return index, index / source_fps
