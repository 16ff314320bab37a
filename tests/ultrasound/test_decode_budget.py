"""The decode budget and the container whitelist: bombs refused on their header before a frame is decoded,
frames decoded one at a time into one array, grey in integers, and no demuxer that opens other files."""

from __future__ import annotations

import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from tests.configs import section
from tests.hostile_files import FifoCanary, ffconcat, hls_playlist, mjpeg_avi, rgb_rle_dicom
from ultrasound.container_io import open_container
from ultrasound.video_io import DecodeCancelled, DecodeLimits, VideoError, read_video

SERVING = section("serving")
LIMITS = DecodeLimits(SERVING.max_frames, SERVING.max_frame_pixels, SERVING.max_decoded_bytes)


def _refusal(src, limits: DecodeLimits = LIMITS) -> tuple[VideoError, float, float]:
    """The error, the seconds it took and the MB numpy allocated (tracemalloc sees numpy buffers)."""
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(VideoError) as info:
        read_video(src, "bomb", limits)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return info.value, elapsed, peak


def test_bombs_are_refused_on_their_header_before_decoding(tmp_path: Path) -> None:
    avi = mjpeg_avi(1000, 1024, 1024)
    dcm = rgb_rle_dicom(tmp_path / "bomb.dcm", 1000, 1024, 1024)
    assert len(avi) < SERVING.max_upload_bytes and dcm.stat().st_size < SERVING.max_upload_bytes
    for src, decoded_mb in ((avi, 1500), (dcm, 3000)):
        err, elapsed, peak = _refusal(src)
        assert err.reason == "too_large_decoded"
        assert f"1000 frames of 1024x1024 take {decoded_mb} MB decoded" in str(err)
        assert elapsed < 0.5 and peak < 60  # no frame array was allocated (the DICOM's bytes are ~47 MB)
    # positive control: the same files, cut to 40 frames, decode (so the refusal is the budget's doing)
    assert read_video(mjpeg_avi(40, 1024, 1024), "ok", LIMITS).frames.shape == (40, 1024, 1024)
    assert read_video(rgb_rle_dicom(tmp_path / "ok.dcm", 3, 1024, 1024), "ok", LIMITS).n_frames == 3


def test_the_default_budget_takes_a_colour_cine_and_refuses_400_grey_megapixel_frames(tmp_path: Path) -> None:
    cine = mjpeg_avi(120, 708, 1016, pix_fmt="yuvj444p")  # 3 samples per pixel: 259 MB decoded
    assert read_video(cine, "cine", LIMITS).frames.shape == (120, 708, 1016)
    grey = rgb_rle_dicom(tmp_path / "grey.dcm", 400, 1024, 1024, values=(80,))  # 400 MiB decoded
    err, elapsed, _ = _refusal(grey)
    assert err.reason == "too_large_decoded" and "400 MB decoded" in str(err) and elapsed < 0.5
    assert _refusal(mjpeg_avi(400, 1024, 1024))[0].reason == "too_large_decoded"


def _extra_mb(src, frames: int) -> float:
    """MB numpy allocated while decoding, beyond the grey output and the file's own bytes."""
    tracemalloc.start()
    video = read_video(src, "v", LIMITS)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert video.frames.shape == (frames, 1024, 1024) and video.frames.base is None
    return (peak - video.frames.nbytes - (src.stat().st_size if isinstance(src, Path) else 0)) / 2**20


def test_frames_are_decoded_into_one_array(tmp_path: Path) -> None:
    """Working memory beyond the one output array stays a few frames whatever the length (before: a frame
    list, np.stack and astype held the video three times, and RGB went through float64)."""
    for make in (
        lambda n: mjpeg_avi(n, 1024, 1024),
        lambda n: rgb_rle_dicom(tmp_path / f"rgb{n}.dcm", n, 1024, 1024),
    ):
        short, long = _extra_mb(make(8), 8), _extra_mb(make(32), 32)
        assert long < 20 and abs(long - short) < 3.0, (short, long)  # one RGB megapixel frame: 3 MB


def test_rgb_and_ybr_become_grey_in_integers(tmp_path: Path) -> None:
    video = read_video(rgb_rle_dicom(tmp_path / "c.dcm", 2, 64, 64))
    assert video.frames.dtype == np.uint8
    assert np.all(video.frames == round(0.299 * 90 + 0.587 * 120 + 0.114 * 60))  # BT.601, within rounding
    colour = read_video(mjpeg_avi(3, 64, 64, pix_fmt="yuvj444p")).frames
    assert colour.dtype == np.uint8 and colour.std() > 10


def test_a_cancelled_decode_stops_between_frames() -> None:
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(DecodeCancelled):
        read_video(mjpeg_avi(30, 256, 256), "v", LIMITS, cancel)


@pytest.fixture
def canary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FifoCanary:
    monkeypatch.chdir(tmp_path)  # ffconcat resolves names against the reader's working directory
    fifo = FifoCanary(tmp_path / "canary.ts")
    yield fifo
    fifo.remove()


def _opens_canary(target, canary: FifoCanary, fmt: str | None, timeout: float = 3.0) -> bool:
    """Open `target` with open_container in a thread; True when it opened the FIFO."""
    done = threading.Event()

    def run() -> None:
        try:
            with open_container(target, fmt) as container:
                for _ in container.decode(video=0):
                    pass
        except Exception:
            pass
        done.set()

    threading.Thread(target=run, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not done.is_set():
        if canary.opened():  # also unblocks the reader
            return True
        time.sleep(0.01)
    return canary.opened()


def test_manifests_never_reach_a_demuxer(tmp_path: Path, canary: FifoCanary) -> None:
    concat = ffconcat("canary.ts")
    playlist = tmp_path / "list.m3u8"
    playlist.write_bytes(hls_playlist("canary.ts"))
    for src in (concat, playlist, playlist.read_bytes()):
        started = time.perf_counter()
        err = _refusal(src)[0]
        assert err.reason == "not_a_video" and time.perf_counter() - started < 1.0
        assert not canary.opened()
    # positive controls: with the whitelist off (FFmpeg probing), the same inputs open the FIFO
    assert _opens_canary(concat, canary, None)
    assert _opens_canary(playlist, canary, None)
    # and an explicit demuxer on the same bytes does not
    assert not _opens_canary(concat, canary, "avi", timeout=0.5)
