"""Site looks: display settings move the image statistics the way a scanner's do, codecs round-trip, and
random looks span EchoNet-Dynamic's real-clip ranges."""

from __future__ import annotations

import numpy as np
import pytest

from ultrasound.geometry import estimate_sector_mask
from ultrasound.quality import quality_metrics
from ultrasound.realism import ECHONET_RANGES, image_statistics
from ultrasound.simulator import render_study, sample_study
from ultrasound.site_look import CODECS, DEFAULT_LOOK, RANGES, Look, apply_look, draw_look, encode


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    return render_study(sample_study(2, "adult", 8, np.random.default_rng(8), view="A4C")).video[:40]


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_the_default_look_changes_nothing(clip: np.ndarray) -> None:
    assert np.array_equal(apply_look(clip, DEFAULT_LOOK, _rng()), clip)


def test_display_settings_move_the_statistics_a_scanner_would(clip: np.ndarray) -> None:
    base = quality_metrics(clip)
    brighter = quality_metrics(apply_look(clip, Look(gain=1.4), _rng()))
    assert brighter["brightness"] > 1.3 * base["brightness"] and brighter["contrast"] > base["contrast"]
    steeper = quality_metrics(apply_look(clip, Look(gamma=1.4), _rng()))
    assert steeper["dark_share"] > base["dark_share"] + 0.03
    tgc = quality_metrics(apply_look(clip, Look(tgc_slope=0.6), _rng()))
    assert tgc["depth_slope"] > base["depth_slope"] + 0.2
    mask = estimate_sector_mask(clip)
    hazy = apply_look(clip, Look(haze=20.0), _rng())  # the blood pool is not black
    assert np.percentile(hazy[:, mask], 10) > np.percentile(clip[:, mask], 10) + 8
    grainy = quality_metrics(apply_look(clip, Look(speckle=0.25), _rng()))
    assert grainy["speckle_snr"] < 0.9 * base["speckle_snr"]


def test_outside_the_sector_is_untouched(clip: np.ndarray) -> None:
    mask = estimate_sector_mask(clip)
    looked = apply_look(clip, Look(gain=1.5, haze=20.0, speckle=0.2), _rng())
    assert np.array_equal(looked[:, ~mask], clip[:, ~mask])


@pytest.mark.parametrize("codec", [c for c in CODECS if c != "none"])
def test_codecs_round_trip_close_and_keep_the_shape(clip: np.ndarray, codec: str) -> None:
    odd = clip[:, :111, :109]  # H.264 needs even sizes: padded and cropped back
    out = encode(odd, Look(codec=codec, quality=80))
    assert out.shape == odd.shape and out.dtype == np.uint8
    error = np.abs(out.astype(float) - odd).mean()
    assert 0.1 < error < 6.0, error  # lossy, but close


def test_an_unknown_codec_is_named() -> None:
    with pytest.raises(ValueError, match="unknown codec 'png'"):
        encode(np.zeros((2, 8, 8), np.uint8), Look(codec="png"))


def test_random_looks_stay_in_their_ranges_and_span_the_real_ones(clip: np.ndarray) -> None:
    """The operator's brightness targets span EchoNet's sector-mean range and each clip lands near its
    target (saturation, the codec and the sector edge take up to 10 grey levels: JPEG ringing at a bright
    fan edge lifts pixels outside the fan above the sector threshold); contrast varies widely.
    The spread over videos is the next test's and benchmarks/bench_causes.py's `site_look_statistics`."""
    rng = np.random.default_rng(3)
    looks = [draw_look(rng) for _ in range(24)]
    for look in looks:
        for key, (lo, hi) in RANGES.items():
            assert lo <= getattr(look, key) <= hi
    assert {look.codec for look in looks} == set(CODECS)
    stats = [image_statistics(apply_look(clip, look, rng)) for look in looks]
    _, low, high = ECHONET_RANGES["sector_mean"]
    assert RANGES["brightness"][0] < low and RANGES["brightness"][1] > high
    for look, s in zip(looks, stats, strict=True):
        assert look.brightness - 10.0 <= s["sector_mean"] <= look.brightness + 1.0, (look, s["sector_mean"])
    contrast = [s["sector_std"] for s in stats]
    assert max(contrast) > 1.6 * min(contrast)  # the display curve and haze move contrast a lot


def test_looks_over_videos_span_every_real_range() -> None:
    """30 videos, each in one random look (as benchmarks/bench_causes draws them): the clean clips' sector
    mean, contrast, speckle SNR and frame correlation each reach both ends of EchoNet's range; the dark
    share covers 0.345–0.600 of its 0.34–0.62 (a miss at both ends, reported so, not widened here)."""
    from ultrasound.fit_causes import simulated_video, site_look_of

    stats = []
    for i in range(30):
        look, look_rng = site_look_of(i, 2028)
        stats.append(image_statistics(apply_look(simulated_video(i, 2028), look, look_rng)))
    for key in ("sector_mean", "sector_std", "speckle_snr", "frame_correlation"):
        values = [s[key] for s in stats]
        _, low, high = ECHONET_RANGES[key]
        assert min(values) <= low and max(values) >= high, (key, min(values), max(values))
    dark = [s["dark_share"] for s in stats]
    _, low, high = ECHONET_RANGES["dark_share"]
    assert (min(max(dark), high) - max(min(dark), low)) >= 0.9 * (high - low)
