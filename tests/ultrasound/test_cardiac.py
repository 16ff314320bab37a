"""Cardiac cycle and the method of discs."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound.cardiac import beat_phase, cardiac_cycle, disc_volume, lv_chords, shortening_for_ef


def test_discs_of_a_half_ellipse_approach_the_half_ellipsoid_volume() -> None:
    length, radius = 60.0, 18.0
    chords = lv_chords(np.array([56.0, 10.0]), np.array([0.0, -1.0]), length, radius)
    exact = 2 / 3 * np.pi * radius**2 * length
    assert chords.shape == (21, 4)
    assert disc_volume(chords) == pytest.approx(exact, rel=0.01)
    assert disc_volume(chords, pixel_cm=0.1) == pytest.approx(disc_volume(chords) * 1e-3)


def test_long_axis_row_runs_from_apex_to_base_and_chords_are_perpendicular() -> None:
    axis = np.array([np.sin(0.3), -np.cos(0.3)])
    chords = lv_chords(np.array([50.0, 12.0]), axis, 55.0, 16.0)
    long_axis = chords[0, 2:] - chords[0, :2]
    assert np.hypot(*long_axis) == pytest.approx(55.0)
    for x1, y1, x2, y2 in chords[1:]:
        assert np.dot([x2 - x1, y2 - y1], long_axis) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("ef", [10.0, 35.0, 60.0, 80.0])
@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_shortening_reproduces_the_requested_ef(ef: float, ratio: float) -> None:
    b = shortening_for_ef(ef, ratio)
    apex, axis = np.array([56.0, 10.0]), np.array([0.0, -1.0])
    edv = disc_volume(lv_chords(apex, axis, 60.0, 18.0))
    esv = disc_volume(lv_chords(apex, axis, 60.0 * (1 - ratio * b), 18.0 * (1 - b)))
    assert 100 * (1 - esv / edv) == pytest.approx(ef, abs=0.05)


def test_beat_phase_runs_ed_to_es_and_back() -> None:
    c = np.linspace(0, 0.999, 500)
    phase = beat_phase(c, systole=0.35)
    assert phase[0] == pytest.approx(0.0)
    assert phase.max() == pytest.approx(1.0, abs=1e-3)
    assert c[np.argmax(phase)] == pytest.approx(0.35, abs=0.01)
    assert phase[-1] < 0.02
    assert np.all(np.diff(phase[c < 0.35]) >= 0)  # systole contracts monotonically


def test_cycle_has_several_beats_with_variation_and_a_traced_beat_inside() -> None:
    rng = np.random.default_rng(0)
    trace = cardiac_cycle(180, 50.0, 75.0, rng)
    assert trace.beats >= 4
    assert 0 <= trace.ed_frame < trace.es_frame < 180
    assert trace.phase[trace.es_frame] > 0.9 and trace.phase[trace.ed_frame] < 0.15
    peaks = [
        trace.phase[i]
        for i in range(1, 179)
        if trace.phase[i] >= max(trace.phase[i - 1], trace.phase[i + 1]) > 0.8
    ]
    assert np.std(peaks) > 0.001  # beat-to-beat variation of contraction depth


def test_cycle_too_short_for_a_systole_is_an_error() -> None:
    with pytest.raises(ValueError, match="no whole systole"):
        cardiac_cycle(5, 50.0, 50.0, np.random.default_rng(0))
