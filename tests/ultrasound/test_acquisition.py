"""Per-study nuisance of the simulator (issue 15, item 1): size follows depth, nothing follows the EF, frames
are held at slow frame rates, speckle travels with the tissue, bulk motion moves the picture."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

import ultrasound.simulator as simulator
from ultrasound.acquisition import (
    bulk_motion,
    draw_acquisition,
    held_frames,
    specular_factor,
    tissue_backmap,
)
from ultrasound.anatomy import Heart
from ultrasound.cardiac import disc_volume
from ultrasound.geometry import Sector
from ultrasound.motion import PAD, FrameMotion
from ultrasound.realism import contour_mask


def _hearts(n: int, seed: int = 5):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        study = simulator.sample_study(i, "adult", seed, rng, view="A4C")
        out.append((study, simulator.build_heart(study, Sector(), np.random.default_rng(study.seed))))
    return out


def test_heart_size_in_pixels_follows_the_depth_and_spans_echonet() -> None:
    """EchoNet's LV areas at ED span 876–2395 px (about 1.65× in linear size); the simulated ones span at
    least 1.5× between the 2.5th and 97.5th percentile, and a deeper scan (more cm per pixel) shows a smaller
    heart, so the volumes in mL stay consistent with the pixels."""
    hearts = _hearts(300)
    area = np.array([contour_mask(simulator._traced_chords(h, 0.0)).sum() for _, h in hearts])
    lo, hi = np.percentile(area, [2.5, 97.5])
    assert np.sqrt(hi / lo) >= 1.5, (lo, hi)
    assert 700 <= np.median(area) <= 2400
    pixel_cm = np.array([s.pixel_cm for s, _ in hearts])
    assert np.corrcoef(pixel_cm, area)[0, 1] < -0.5
    ef = np.array([s.ef_target for s, _ in hearts])
    assert abs(np.corrcoef(ef, area)[0, 1]) < 0.2


def test_acquisitions_vary_over_their_stated_ranges() -> None:
    draws = [draw_acquisition(np.random.default_rng(i), 46.0) for i in range(400)]
    dr = np.array([a.dynamic_range_db for a in draws])
    fps = np.array([a.source_fps for a in draws])
    gain = np.array([a.gain_db for a in draws])
    assert dr.min() >= 40 and dr.max() <= 60 and np.ptp(dr) > 15
    assert fps.min() >= 28 and fps.max() <= 102 and (fps < 45).mean() > 0.1 and (fps > 55).mean() > 0.2
    assert np.ptp(gain) >= 6  # "over several dB"


def test_slow_acquisitions_are_held_fast_ones_are_fresh() -> None:
    index, times = held_frames(100, 50.0, 30.0)
    assert index.max() == 59 and np.all(np.diff(index) >= 0)
    assert np.isclose((np.diff(index) == 0).mean(), 0.4, atol=0.02)
    assert np.allclose(times, index / 30.0)
    index, times = held_frames(100, 50.0, 75.0)
    assert np.array_equal(index, np.arange(100)) and np.allclose(times, np.arange(100) / 50.0)


def test_a_30_fps_study_repeats_frames_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    draw = simulator.draw_acquisition
    monkeypatch.setattr(
        simulator, "draw_acquisition", lambda rng, dr: dataclasses.replace(draw(rng, dr), source_fps=30.0)
    )
    study = simulator.sample_study(0, "adult", 3, np.random.default_rng(3), view="A4C")
    video = simulator.render_study(study).video
    same = np.array([np.array_equal(a, b) for a, b in itertools.pairwise(video)])
    assert np.isclose(same.mean(), 0.4, atol=0.03)


def test_bulk_motion_is_zero_when_still_and_within_the_padding() -> None:
    acq = draw_acquisition(np.random.default_rng(0), 46.0)
    still = dataclasses.replace(acq, resp_amplitude=0.0, swing=0.0, drift=0.0)
    times = np.arange(200) / 50.0
    phase = np.abs(np.sin(times * 4))
    assert np.allclose(bulk_motion(still, times, phase), 0.0)
    worst = max(
        np.abs(bulk_motion(draw_acquisition(np.random.default_rng(i), 46.0), times, phase)).max()
        for i in range(300)
    )
    assert 3.0 < worst < PAD - 1


def test_frame_motion_shifts_and_interpolates_exactly() -> None:
    maps = np.random.default_rng(0).random((3, 20, 20)).astype(np.float32)
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    shift = np.array([[0.0, 0.0], [2.0, -1.0], [0.5, 0.0]])
    motion = FrameMotion.of(np.array([0.0, 1.0, 1.5]), shift, mask)
    out = motion.sample(maps)
    py, px = np.nonzero(mask)
    assert np.allclose(out[0], maps[0][py, px])
    assert np.allclose(out[1], maps[1][py + 1, px - 2])  # content moved right by 2 and up by 1
    expected = 0.5 * (0.5 * maps[1][py, px] + 0.5 * maps[1][py, px - 1])
    expected += 0.5 * (0.5 * maps[2][py, px] + 0.5 * maps[2][py, px - 1])
    assert np.allclose(out[2], expected, atol=1e-6)
    with pytest.raises(ValueError, match="padding"):
        FrameMotion.of(np.zeros(1), np.array([[float(PAD), 0.0]]), mask)


def test_speckle_moves_with_the_lv_wall() -> None:
    """A tissue point on the end-systolic lateral wall maps back to the end-diastolic wall; the apex and
    tissue far from the heart do not move."""
    heart = Heart("A4C", 60.0, 15.0, 0.0, 60.0, 18.0, 0.3, 0.1, 6.0)
    y, x = np.mgrid[0:112, 0:112].astype(np.float32)
    back = tissue_backmap(heart, 1.0, x, y)
    length, radius = heart.lv_at(1.0)
    wall_y, wall_x = round(15 + 0.5 * length), round(60 + radius)
    ed_x = wall_x + back[0, wall_y, wall_x]
    assert abs(ed_x - (60 + heart.radius)) < 1.0
    assert np.allclose(back[:, 15, 60], 0.0, atol=1e-3)
    assert np.abs(back[:, 105, 5]).max() < 0.2
    assert np.allclose(tissue_backmap(heart, 0.0, x, y), 0.0)


def test_walls_along_the_beam_echo_less() -> None:
    sector = Sector(apex_x=56.0, apex_y=0.0)
    y, x = np.mgrid[0:112, 0:112].astype(np.float32)
    across = y - 60.0  # a wall facing the beam (normal along the beam below the apex)
    along = x - 56.0  # a wall running along the central beam
    assert specular_factor(across, sector, 0.3)[60, 56] > 0.95
    assert specular_factor(along, sector, 0.3)[60, 56] < 0.35


def test_tracings_follow_the_picture_when_the_heart_swings(monkeypatch: pytest.MonkeyPatch) -> None:
    """With a 7-px swing to the right at end-systole, the traced ES contour moved with the picture: its
    apex sits 4–7.35 px (7 × the ES phase, ≤ 1.05) right of the ED contour's (the apex itself stays put in the
    heart), the contour covers darker pixels than the same contour moved back, and volumes ignore the move."""
    draw = simulator.draw_acquisition

    def swinging(rng, dr):
        return dataclasses.replace(draw(rng, dr), swing=7.0, swing_angle=0.0, resp_amplitude=0.0, drift=0.0)

    monkeypatch.setattr(simulator, "draw_acquisition", swinging)
    study = simulator.sample_study(1, "adult", 4, np.random.default_rng(4), view="A4C")
    out = simulator.render_study(study)
    shift_x = out.es_chords[0, 0] - out.ed_chords[0, 0]
    assert 4.0 < shift_x <= 7.0 * 1.05 and abs(out.es_chords[0, 1] - out.ed_chords[0, 1]) < 1e-6
    moved_back = out.es_chords.copy()
    moved_back[:, [0, 2]] -= shift_x
    frame = out.video[out.es_frame].astype(float)
    assert frame[contour_mask(out.es_chords)].mean() < frame[contour_mask(moved_back)].mean()
    assert np.isclose(disc_volume(moved_back, study.pixel_cm), out.esv)
