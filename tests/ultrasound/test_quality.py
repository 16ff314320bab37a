"""Quality metrics: complete, sane on clean clips, robust to degenerate input."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from ultrasound.quality import METRICS, quality_metrics
from ultrasound.simulator import render_study, sample_study
from ultrasound.video_io import DecodeCancelled


def test_all_metrics_present_and_plausible() -> None:
    clip = render_study(sample_study(1, "adult", 1, np.random.default_rng(1))).video
    m = quality_metrics(clip, fps=50.0)
    assert set(m) == set(METRICS)
    assert 30 < m["brightness"] < 90 and 30 < m["contrast"] < 80
    assert 2.0 < m["speckle_snr"] < 5.0
    assert m["dropout_share"] == 0.0
    assert 0.45 < m["sector_coverage"] < 0.75
    assert (m["height"], m["width"], m["frame_count"], m["frame_rate"]) == (112, 112, len(clip), 50.0)


def test_degenerate_clips_do_not_crash() -> None:
    for clip in (np.full((5, 64, 64), 128, np.uint8), np.zeros((1, 112, 112), np.uint8)):
        m = quality_metrics(clip)
        assert all(np.isfinite(v) for v in m.values())
        assert m["contrast"] == 0.0


def test_a_set_cancel_event_stops_the_metrics_and_an_unset_one_changes_nothing() -> None:
    video = render_study(sample_study(1, "adult", 1, np.random.default_rng(3))).video
    cancel = threading.Event()
    assert quality_metrics(video, 50.0, cancel) == quality_metrics(video, 50.0)
    cancel.set()
    with pytest.raises(DecodeCancelled):
        quality_metrics(video, 50.0, cancel)
