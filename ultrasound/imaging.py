"""B-mode image formation: scanner devices, multiplicative speckle on the beam grid, attenuation with
imperfect time-gain compensation, log compression to the display range, and scan conversion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ultrasound.geometry import Sector

N_DEPTH, N_ANGLE = 112, 80  # beam-grid samples along and across the beams


@dataclass(frozen=True)
class Device:
    """A scanner/probe pair: what differs between machines and does not carry anatomy."""

    name: str
    speckle_axial: float  # speckle correlation length along the beam, beam-grid samples
    speckle_lateral: float  # across the beams (widens with depth once scan-converted)
    temporal_correlation: float  # of the complex echo between consecutive frames at 50 fps
    dynamic_range_db: float  # displayed dynamic range
    gain_db: float  # overall gain
    tgc_residual_db: float  # brightness change from near to far field left after TGC
    half_angle: float  # sector half-opening, radians
    depth_px: float  # sector radius in pixels


DEVICES: dict[str, Device] = {
    d.name: d
    for d in (
        Device("sim-a", 1.0, 1.3, 0.98, 46.0, 0.0, -3.0, 0.76, 106.0),
        Device("sim-b", 1.1, 1.5, 0.985, 48.0, 0.0, 2.0, 0.72, 104.0),
        Device("sim-c", 0.8, 1.1, 0.978, 44.0, 0.4, -1.0, 0.80, 108.0),
        Device("sim-d", 1.0, 1.4, 0.988, 47.0, -0.6, 1.0, 0.74, 102.0),
    )
}


def speckle_field(
    n_frames: int,
    device: Device,
    rng: np.random.Generator,
    sector: Sector,
    strength: float = 1.0,
    correlation: float | None = None,
    frames: np.ndarray | None = None,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """Fully developed speckle intensity (mean 1, exponential marginals) at the sector's pixels.

    A circular complex Gaussian field on the beam grid, low-passed by the point-spread function (narrow
    along the beam, wider across it), decorrelating frame to frame as a first-order autoregression, then
    scan-converted. `strength` < 1 blends towards a constant (weaker speckle).

    Args:
        n_frames: frames of the field (acquired frames).
        correlation: frame-to-frame correlation of the echo (default the device's at 50 fps).
        frames: which field frame each output frame shows [T] (held frames repeat); default one each.
        points: where each output frame's sector pixels sample the field, (x, y) pixel coordinates
            [T, n, 2] (speckle that moves with the tissue); default the pixels themselves.
    Returns:
        float32 [T, n] for the n pixels of `sector.mask` (row-major order).
    """
    # real and imaginary parts as the last axis, so each filter pass handles both at once
    z = rng.standard_normal((n_frames, N_DEPTH, N_ANGLE, 2), dtype=np.float32)
    z = gaussian_filter1d(z, device.speckle_axial, axis=1, truncate=3.0)
    z = gaussian_filter1d(z, device.speckle_lateral, axis=2, truncate=3.0)
    rho = np.float32(device.temporal_correlation if correlation is None else correlation)
    innovation = np.float32(np.sqrt(1 - rho**2))
    z[0] /= np.sqrt((z[0] ** 2).mean() * 2) + 1e-12  # start in equilibrium (unit complex variance)
    z[1:] *= innovation / (np.sqrt((z[1:] ** 2).mean() * 2) + 1e-12)
    for t in range(1, n_frames):  # AR(1): the echo decorrelates only partly from frame to frame
        z[t] += rho * z[t - 1]
    intensity = (z**2).sum(axis=-1)
    intensity /= intensity.mean() + 1e-12
    if points is None:
        ri, ti = sector.polar_index(N_DEPTH, N_ANGLE)
        ri, ti = ri[sector.mask][None, :], ti[sector.mask][None, :]
    else:
        ri, ti = sector.polar_index_of(points[..., 0], points[..., 1], N_DEPTH, N_ANGLE)
    index = np.arange(n_frames) if frames is None else np.asarray(frames)
    out = intensity[index[:, None], ri, ti]
    if strength != 1.0:
        out = strength * out + (1.0 - strength)
    return out


def log_compress(intensity: np.ndarray, device: Device, top_db: float) -> np.ndarray:
    """Display grey levels: 255·clip((10·log10(I) + gain − (top − DR)) / DR, 0, 1) as uint8."""
    db = 10.0 * np.log10(np.maximum(intensity, 1e-9)) + device.gain_db
    floor = top_db - device.dynamic_range_db
    return np.clip((db - floor) * (255.0 / device.dynamic_range_db), 0, 255).astype(np.uint8)


def depth_gain(sector: Sector, device: Device) -> np.ndarray:
    """Residual of attenuation after time-gain compensation, as a linear gain map [H, W]."""
    return (10.0 ** (device.tgc_residual_db * (sector.normalised_depth - 0.5) / 10.0)).astype(np.float32)


def tissue_texture(sector: Sector, rng: np.random.Generator, level: float, contrast: float) -> np.ndarray:
    """Static background echogenicity: smooth log-normal texture (fat, fibres, lung-free tissue)."""
    field = rng.standard_normal((sector.size, sector.size)).astype(np.float32)
    field = gaussian_filter1d(gaussian_filter1d(field, 2.5, axis=0), 4.0, axis=1)
    field /= field.std() + 1e-6
    near_field = 1.5 * np.exp(-sector.depth / 7.0)  # clutter and the chest wall just under the probe
    return (level * np.exp(contrast * field) + near_field).astype(np.float32)
