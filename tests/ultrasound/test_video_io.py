"""Video IO: AVI, MP4 and DICOM in; AVI out; every bad file a typed error naming file and reason."""

from __future__ import annotations

import re
from pathlib import Path

import av
import cv2
import numpy as np
import pydicom
import pytest

from ultrasound.dicom_io import write_dicom
from ultrasound.video_io import VideoError, read_video, write_avi


@pytest.fixture
def clip() -> np.ndarray:
    yy, xx = np.mgrid[0:112, 0:112]
    return np.stack([((xx + 3 * t) % 256).astype(np.uint8) for t in range(24)]) // 2 + (yy // 2).astype(
        np.uint8
    )


@pytest.fixture
def avi(tmp_path: Path, clip: np.ndarray) -> Path:
    return write_avi(tmp_path / "clip.avi", clip, 50.0)


def test_avi_round_trip_is_close_and_keeps_fps(avi: Path, clip: np.ndarray) -> None:
    video = read_video(avi)
    assert video.frames.shape == clip.shape and video.frames.dtype == np.uint8
    assert video.fps == pytest.approx(50.0)
    assert np.abs(video.frames.astype(int) - clip).mean() < 2.0


def test_avi_is_three_equal_channels_for_opencv(avi: Path) -> None:
    ok, frame = cv2.VideoCapture(str(avi)).read()
    assert ok and frame.shape == (112, 112, 3)
    assert np.abs(frame[..., 0].astype(int) - frame[..., 2]).max() <= 1


def test_reads_bytes_like_a_path(avi: Path) -> None:
    assert np.array_equal(read_video(avi.read_bytes(), "upload.avi").frames, read_video(avi).frames)


def test_mp4(tmp_path: Path, clip: np.ndarray) -> None:
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=30)
        stream.width, stream.height, stream.pix_fmt = 112, 112, "yuv420p"
        for grey in clip:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(grey, format="gray")))
        container.mux(stream.encode(None))
    video = read_video(path)
    assert video.n_frames == len(clip) and video.fps == pytest.approx(30.0)


def test_dicom_multiframe(tmp_path: Path, clip: np.ndarray) -> None:
    path = write_dicom(tmp_path / "clip.dcm", clip, fps=25.0, PatientName="Doe^Jane")
    video = read_video(path)
    assert np.array_equal(video.frames, clip)
    assert video.fps == pytest.approx(25.0)


def _error(src, name=None) -> VideoError:
    with pytest.raises(VideoError) as info:
        read_video(src, name)
    return info.value


def test_bad_files_raise_typed_errors(tmp_path: Path, avi: Path, clip: np.ndarray) -> None:
    data = avi.read_bytes()
    _, png = cv2.imencode(".png", clip[0])
    no_pixels = write_dicom(tmp_path / "np.dcm", clip)
    ds = pydicom.dcmread(no_pixels)
    del ds.PixelData
    ds.save_as(no_pixels)
    cases = {
        "empty": (b"", "empty"),
        "truncated": (data[: len(data) // 2], "truncated"),
        "png": (png.tobytes(), "not_a_video"),
        "random": (np.random.default_rng(0).bytes(4096), "not_a_video"),
        "text": (b"FileName,EF\n" * 100, "not_a_video"),
        "codec": (data.replace(b"MJPG", b"XQZ9"), "unsupported_codec"),
        "dicom": (no_pixels.read_bytes(), "no_pixel_data"),
    }
    for name, (payload, reason) in cases.items():
        err = _error(payload, f"{name}.avi")
        assert err.reason == reason, (name, err)
        assert str(err).startswith(f"{name}.avi: ") and "\n" not in str(err)
    assert re.search(r"\d+ frames decoded of 24", str(_error(data[: len(data) // 2], "t.avi")))
    assert _error(tmp_path / "missing.avi").reason == "not_found"


def test_single_frame_video_reads(tmp_path: Path, clip: np.ndarray) -> None:
    assert read_video(write_avi(tmp_path / "one.avi", clip[:1])).n_frames == 1


def test_write_rejects_wrong_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_avi(tmp_path / "x.avi", np.zeros((3, 8, 8), np.float32))


def test_decode_limits_refuse_long_or_large_videos(tmp_path: Path, clip: np.ndarray) -> None:
    from ultrasound.video_io import DecodeLimits

    avi = write_avi(tmp_path / "clip.avi", clip)
    dcm = write_dicom(tmp_path / "clip.dcm", clip)
    for path in (avi, dcm):
        with pytest.raises(VideoError) as info:
            read_video(path, limits=DecodeLimits(max_frames=10))
        assert info.value.reason == "too_many_frames"
        assert "24 frames, above the limit of 10" in str(info.value)
        with pytest.raises(VideoError) as info:
            read_video(path, limits=DecodeLimits(max_frame_pixels=100 * 100))
        assert info.value.reason == "frame_too_large" and "112x112" in str(info.value)
        assert read_video(path, limits=DecodeLimits(24, 112 * 112)).n_frames == 24
