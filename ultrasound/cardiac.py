"""The cardiac cycle and the left-ventricle contour: phase over time, the LV shape at each frame, its
method-of-discs chords and volumes, and the shortening that yields a requested ejection fraction."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

N_DISCS = 20  # EchoNet-Dynamic's tracings: one long-axis row plus 20 chords per traced frame


def beat_phase(cycle_fraction: np.ndarray, systole: float) -> np.ndarray:
    """Contraction state over one beat: 0 at end-diastole, 1 at end-systole.

    Systole is a half-cosine; diastole has rapid early filling (~80 %), diastasis, then the atrial kick.

    Args:
        cycle_fraction: position in the beat, [0, 1).
        systole: fraction of the beat spent in systole (about 0.3–0.45).
    """
    c = np.asarray(cycle_fraction, dtype=np.float64)
    phase = np.empty_like(c)
    sys = c < systole
    phase[sys] = 0.5 - 0.5 * np.cos(np.pi * c[sys] / systole)
    d = (c[~sys] - systole) / (1.0 - systole)
    early = np.clip(d / 0.35, 0.0, 1.0)
    kick = np.clip((d - 0.8) / 0.2, 0.0, 1.0)
    smooth = lambda z: z * z * (3 - 2 * z)  # noqa: E731 - smoothstep
    phase[~sys] = 1.0 - 0.8 * smooth(early) - 0.2 * smooth(kick)
    return phase


@dataclass(frozen=True)
class CycleTrace:
    """Contraction over a clip: phase [T] in [0, 1], the traced beat's ED and ES frames."""

    phase: np.ndarray
    ed_frame: int
    es_frame: int
    beats: int


def cardiac_cycle(
    n_frames: int,
    fps: float,
    heart_rate: float,
    rng: np.random.Generator,
    variability: float = 0.04,
    times: np.ndarray | None = None,
) -> CycleTrace:
    """Phase of contraction per frame over several beats with beat-to-beat variation.

    Each beat's period varies by `variability` (heart-rate variability) and its depth of contraction by
    about 3 %; the first beat whose ED and ES both fall inside the clip is the traced one. `times` gives
    each output frame's acquisition time when it differs from frame / fps (a held frame of a slower scan).
    """
    period = 60.0 / heart_rate
    systole = float(np.clip(0.36 + 0.1 * (heart_rate - 70) / 90, 0.3, 0.48))
    t = np.arange(n_frames) / fps if times is None else np.asarray(times, dtype=np.float64)
    start = -rng.uniform(0.0, period)  # the clip starts anywhere in a beat
    phase = np.zeros(n_frames)
    ed_frame = es_frame = -1
    beats = 0
    while start < t[-1]:
        length = period * (1.0 + variability * rng.standard_normal())
        depth = 1.0 + 0.03 * rng.standard_normal()
        inside = (t >= start) & (t < start + length)
        phase[inside] = depth * beat_phase((t[inside] - start) / length, systole)
        ed = int(np.ceil(start * fps))
        es = int(np.round((start + systole * length) * fps))
        if ed_frame < 0 and ed >= 0 and es < n_frames:
            ed_frame, es_frame = ed, es
        beats += 1
        start += length
    if ed_frame < 0:
        raise ValueError(
            f"a clip of {n_frames} frames at {fps} fps holds no whole systole at {heart_rate} bpm"
        )
    return CycleTrace(np.clip(phase, 0.0, 1.05), ed_frame, es_frame, beats)


def shortening_for_ef(ef: float, long_to_radial: float) -> float:
    """Radial shortening b so that a half-ellipsoid LV with long-axis shortening c·b ejects `ef` percent.

    Solves (1 − b)²(1 − c·b) = 1 − ef/100 by bisection (monotone in b on [0, 1)).
    """
    target = 1.0 - ef / 100.0
    lo, hi = 0.0, 0.99
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if (1 - mid) ** 2 * (1 - long_to_radial * mid) > target:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def lv_chords(
    apex: np.ndarray, axis: np.ndarray, length: float, radius: float, n_discs: int = N_DISCS
) -> np.ndarray:
    """Method-of-discs chords of a half-ellipse LV cavity, long axis first.

    Args:
        apex: LV apex (x, y) in pixels.
        axis: unit vector from the base towards the apex.
        length, radius: long-axis length and base half-width, pixels.
    Returns:
        [n_discs + 1, 4] rows of (x1, y1, x2, y2); row 0 runs from the apex to the base midpoint.
    """
    normal = np.array([-axis[1], axis[0]])
    base = apex - axis * length
    u = (np.arange(n_discs) + 0.5) / n_discs * length  # disc centres, measured from the base
    half = radius * np.sqrt(np.clip(1.0 - (u / length) ** 2, 0.0, None))
    centres = base[None, :] + u[:, None] * axis[None, :]
    p1 = centres - half[:, None] * normal[None, :]
    p2 = centres + half[:, None] * normal[None, :]
    rows = np.concatenate([p1, p2], axis=1)
    return np.vstack([np.concatenate([apex, base])[None, :], rows])


def disc_volume(chords: np.ndarray, pixel_cm: float = 1.0) -> float:
    """Simpson's method of discs, V = Σ π/4·dᵢ²·L/N, from a chord block (long axis first); mL with cm/px."""
    long_axis = np.hypot(chords[0, 2] - chords[0, 0], chords[0, 3] - chords[0, 1])
    d = np.hypot(chords[1:, 2] - chords[1:, 0], chords[1:, 3] - chords[1:, 1])
    return float(np.sum(np.pi / 4 * d**2) * long_axis / len(d) * pixel_cm**3)
