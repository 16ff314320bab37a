"""Synthetic echocardiography: sample a study (patient, cohort, view, device, heart, cycle) and render its
B-mode clip with labels that come from the same LV contour the pixels show.

Nuisance factors (device, gain, speckle, heart size, orientation, heart rate) are drawn independently of
the ejection fraction, so global image statistics cannot shortcut the label.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from ultrasound.acquisition import (
    bulk_motion,
    clutter_field,
    draw_acquisition,
    held_frames,
    specular_factor,
    tgc_gain,
    tissue_backmap,
)
from ultrasound.anatomy import VIEWS, Heart, echogenicity
from ultrasound.cardiac import CycleTrace, cardiac_cycle, disc_volume, lv_chords, shortening_for_ef
from ultrasound.geometry import FRAME_SIZE, Sector
from ultrasound.imaging import DEVICES, log_compress, speckle_field, tissue_texture
from ultrasound.motion import FrameMotion

FPS = 50.0
COHORTS = ("adult", "pediatric")
VIEW_MIX = {"A4C": 0.5, "A2C": 0.15, "PLAX": 0.12, "PSAX": 0.13, "SUBCOSTAL": 0.1}
PHASE_LEVELS = 24  # anatomy is rendered at this many contraction levels and interpolated per frame
TOP_DB = 23.0  # display ceiling relative to myocardium


@dataclass(frozen=True)
class Study:
    """Everything that determines one synthetic video (its seed makes the pixels reproducible)."""

    file_name: str
    patient_id: str
    cohort: str
    view: str
    device: str
    ef_target: float
    heart_rate: float
    n_frames: int
    pixel_cm: float  # physical size of a pixel, cm
    seed: int


@dataclass(frozen=True)
class Rendered:
    """A rendered clip and its labels."""

    video: np.ndarray  # uint8 [T, H, W]
    ef: float
    edv: float  # mL
    esv: float  # mL
    ed_frame: int
    es_frame: int
    ed_chords: np.ndarray  # [21, 4] long axis first
    es_chords: np.ndarray
    heart: Heart


def sample_ef(rng: np.random.Generator) -> float:
    """EF in percent, shaped like EchoNet-Dynamic's (mean ≈ 55, sd ≈ 12) with a reduced-EF tail to 10 %."""
    if rng.random() < 0.22:
        return float(rng.uniform(10.0, 45.0))
    return float(np.clip(rng.normal(60.0, 7.0), 35.0, 80.0))


def sample_study(
    index: int, cohort: str, seed: int, rng: np.random.Generator, view: str | None = None
) -> Study:
    """Draw one study's independent factors; `view` forces a view instead of the default mix."""
    if cohort not in COHORTS:
        raise ValueError(f"unknown cohort {cohort!r}; expected adult, pediatric or mixed")
    view = view or str(rng.choice(list(VIEW_MIX), p=list(VIEW_MIX.values())))
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; expected one of {', '.join(VIEWS)}")
    pediatric = cohort == "pediatric"
    return Study(
        file_name=f"0X{seed & 0xFFFF:04X}{index:06d}",
        patient_id="",  # assigned by the dataset writer (several studies per patient)
        cohort=cohort,
        view=view,
        device=str(rng.choice(sorted(DEVICES))),
        ef_target=sample_ef(rng),
        heart_rate=float(rng.uniform(80, 160) if pediatric else rng.uniform(50, 110)),
        n_frames=int(rng.integers(130, 200)),
        pixel_cm=float(rng.uniform(0.055, 0.1) if pediatric else rng.uniform(0.11, 0.165)),  # depth / zoom
        seed=int(rng.integers(2**31)),
    )


def build_heart(study: Study, sector: Sector, rng: np.random.Generator) -> Heart:
    """The study's heart in its view: a physical LV size (cm) seen at the study's depth / zoom
    (`pixel_cm`), so its size in pixels varies about 1.65× between studies as EchoNet's does, placed,
    rotated and foreshortened per study; none of it depends on the EF."""
    pediatric = study.cohort == "pediatric"
    length_cm = float(rng.normal(4.4, 0.5) if pediatric else rng.normal(8.6, 0.6))
    foreshortening = float(rng.uniform(0.86, 1.0))  # the apical cut misses the true apex
    length = float(np.clip(length_cm / study.pixel_cm * foreshortening, 42.0, 72.0))
    radius = length / foreshortening * float(np.clip(rng.normal(0.3, 0.025), 0.24, 0.37))
    c = float(rng.uniform(0.25, 0.5))  # long-axis shortening relative to radial shortening
    b = shortening_for_ef(study.ef_target, c)
    # apical views: the LV apex sits under the probe and the LV fans down to the image right
    tilt = float(rng.normal(-0.22 if study.view == "A4C" else 0.0, 0.2 if pediatric else 0.09))
    apex_x = sector.apex_x + rng.normal(0, 1.5)
    apex_y = sector.apex_y + (rng.uniform(6, 20) if pediatric else rng.uniform(8, 26))
    if study.view == "PLAX":
        tilt = float(-np.pi / 2 + rng.normal(0.1, 0.08))  # long axis across the image, apex to the left
        apex_x, apex_y = float(rng.uniform(14, 22)), float(rng.uniform(46, 58))
    elif study.view == "PSAX":
        apex_x, apex_y = float(56 + rng.normal(0, 4)), float(rng.uniform(50, 60))  # the ring's centre
        radius *= 1.15
    elif study.view == "SUBCOSTAL":
        tilt = float(rng.uniform(0.9, 1.2))  # heart seen from below the ribs, apex to the image right
        apex_x, apex_y = float(rng.uniform(84, 92)), float(rng.uniform(38, 48))
        length *= 0.85
        radius *= 0.85
    return Heart(
        view=study.view,
        apex_x=float(apex_x),
        apex_y=float(apex_y),
        tilt=tilt,
        length=length,
        radius=radius,
        radial_shortening=b,
        long_shortening=c * b,
        wall=float(np.clip(rng.normal(6.5, 0.8), 4.5, 9) * length / 60.0),
        rv_scale=float(rng.uniform(0.7, 1.3)),
        atria_scale=float(rng.uniform(0.7, 1.3)),
        rv_shortening=float(rng.uniform(0.05, 0.5)),
        atria_fill=float(rng.uniform(0.0, 0.5)),
        papillary=float(rng.uniform(0.1, 0.22) if rng.random() < 0.7 else 0.0),
        leaflets=bool(rng.random() < 0.8),
    )


def _traced_chords(heart: Heart, phase: float) -> np.ndarray:
    """Chords in frame pixels; a PSAX clip shows a cross-section, so its tracing records the same LV in the
    apical reference placement (apex at the top centre), keeping EF reproducible from the tracing."""
    length, radius = heart.lv_at(phase)
    if heart.view == "PSAX":
        return lv_chords(np.array([56.0, 14.0]), np.array([0.0, -1.0]), length, radius)
    return lv_chords(np.array([heart.apex_x, heart.apex_y]), heart.axis, length, radius)


def render_study(study: Study, speckle_strength: float = 1.0) -> Rendered:
    """Render a study's clip (uint8 [T, 112, 112]) and its labels; deterministic for `study.seed`.

    `speckle_strength` 0 renders the noise-free anatomy (used to show speckle carries no label)."""
    rng = np.random.default_rng(study.seed)
    base_device = DEVICES[study.device]
    sector = Sector(
        apex_x=56.0 + rng.normal(0, 1.0),
        apex_y=float(rng.uniform(-2.0, 1.0)),
        radius=base_device.depth_px,
        half_angle=base_device.half_angle,
        size=FRAME_SIZE,
    )
    acq = draw_acquisition(rng, base_device.dynamic_range_db)
    device = replace(
        base_device,
        dynamic_range_db=acq.dynamic_range_db,
        # the sonographer turns the gain down as the dynamic range widens, so the blood pool stays dark
        gain_db=base_device.gain_db
        + acq.gain_db
        - 0.5 * (acq.dynamic_range_db - base_device.dynamic_range_db),
    )
    held, times = held_frames(study.n_frames, FPS, acq.source_fps)
    cycle: CycleTrace = cardiac_cycle(
        study.n_frames, FPS, study.heart_rate, rng, variability=acq.hr_variability, times=times
    )
    heart = build_heart(study, sector, rng)
    background = tissue_texture(sector, rng, level=float(rng.uniform(0.004, 0.01)), contrast=0.7)
    if study.view == "SUBCOSTAL":  # the liver fills the near field
        yy, xx = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE]
        liver = ((xx - 30) / 70.0) ** 2 + ((yy - 4) / 34.0) ** 2 < 1
        background = np.where(liver, background * 2.2, background)
    y, x = np.mgrid[0:FRAME_SIZE, 0:FRAME_SIZE].astype(np.float32)
    top = float(cycle.phase.max())
    levels = np.linspace(0.0, top, PHASE_LEVELS)
    wall_gain = 1.2 * heart.radial_shortening
    specular = partial(specular_factor, sector=sector, specular=acq.specular)
    anatomy = np.stack(
        [echogenicity(heart, p, x, y, background, 1 + wall_gain * p, specular) for p in levels]
    )
    backmap = np.stack([tissue_backmap(heart, p, x, y) for p in levels])  # [levels, 2, H, W]
    shift = bulk_motion(acq, times, cycle.phase)
    motion = FrameMotion.of(cycle.phase / top * (PHASE_LEVELS - 1), shift, sector.mask)
    tissue = motion.sample(anatomy)  # [T, n]: the sector's pixels only from here on
    tissue += clutter_field(sector, acq, rng)[sector.mask]
    tissue *= tgc_gain(sector, acq, device.tgc_residual_db)[sector.mask]
    speckle = speckle_field(
        int(held.max()) + 1,
        device,
        rng,
        sector,
        strength=speckle_strength,
        # the device's 50-fps decorrelation includes tissue motion, which is now rendered: the echo
        # itself decorrelates less, and more between the frames of a slower acquisition
        correlation=(1 - 0.2 * (1 - device.temporal_correlation)) ** (FPS / min(acq.source_fps, FPS)),
        frames=held,
        points=motion.tissue_points(backmap),
    )
    video = np.zeros((study.n_frames, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
    video[:, sector.mask] = log_compress(tissue * speckle, device, TOP_DB)
    # the tracings follow the picture: the traced frame's contour moved by that frame's bulk shift
    ed_chords = _traced_chords(heart, float(cycle.phase[cycle.ed_frame])) + np.tile(shift[cycle.ed_frame], 2)
    es_chords = _traced_chords(heart, float(cycle.phase[cycle.es_frame])) + np.tile(shift[cycle.es_frame], 2)
    edv, esv = disc_volume(ed_chords, study.pixel_cm), disc_volume(es_chords, study.pixel_cm)
    return Rendered(
        video=video.astype(np.uint8),
        ef=100.0 * (edv - esv) / edv,
        edv=edv,
        esv=esv,
        ed_frame=cycle.ed_frame,
        es_frame=cycle.es_frame,
        ed_chords=ed_chords,
        es_chords=es_chords,
        heart=heart,
    )
