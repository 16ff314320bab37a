"""Every kind of bad upload the service must refuse with a 4xx and a one-sentence JSON error, built from
real bytes: a cut AVI, a renamed PNG, an audio-only MP4, an AVI whose codec no decoder exists for, a DICOM
without pixel data, and videos past the LIMITS of tests/serving/conftest.py."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pydicom

from ultrasound.dicom_io import write_dicom
from ultrasound.video_io import write_avi


@dataclass(frozen=True)
class BadCase:
    """An upload (None: a request without a file), the status it must get and its metric reason."""

    name: str
    path: Path | None
    status: int
    reason: str


def _audio_only_mp4() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=16000)
        stream.layout = "mono"
        for i in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, i * 1024
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def _no_pixel_dicom(path: Path) -> Path:
    rng = np.random.default_rng(0)
    write_dicom(path, rng.integers(0, 255, (20, 64, 64), dtype=np.uint8), PatientName="Doe^Jane")
    ds = pydicom.dcmread(path)
    del ds.PixelData
    ds.save_as(path)
    return path


def make_bad_inputs(folder: Path, clean: Path) -> list[BadCase]:
    """Write the bad uploads into `folder`, derived from the clean AVI `clean` where a real file is cut."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    data = clean.read_bytes()
    noise = rng.integers(0, 255, (320, 48, 48), dtype=np.uint8)
    _, png = cv2.imencode(".png", rng.integers(0, 255, (64, 64), dtype=np.uint8))
    files = {
        "empty.avi": b"",
        "truncated.avi": data[: len(data) // 4],
        "png_renamed.avi": png.tobytes(),
        "random_bytes.avi": rng.bytes(5000),
        "text.avi": b"FileName,EF\n0X1,55.0\n" * 200,
        "unsupported_codec.avi": data.replace(b"MJPG", b"XQZ9"),
        "audio_only.mp4": _audio_only_mp4(),
        "too_large_file.avi": rng.bytes(3 * 1024 * 1024),
    }
    for name, content in files.items():
        (folder / name).write_bytes(content)
    write_avi(folder / "single_frame.avi", noise[:1, :, :].repeat(3, 1).repeat(3, 2))
    write_avi(folder / "too_many_frames.avi", noise)
    write_avi(folder / "frame_too_large.avi", rng.integers(0, 255, (20, 200, 200), dtype=np.uint8))
    write_avi(folder / "constant_grey.avi", np.full((40, 112, 112), 128, dtype=np.uint8))
    _no_pixel_dicom(folder / "no_pixel_data.dcm")
    return [
        BadCase("empty", folder / "empty.avi", 400, "empty"),
        BadCase("truncated", folder / "truncated.avi", 422, "truncated"),
        BadCase("png_renamed", folder / "png_renamed.avi", 415, "not_a_video"),
        BadCase("random_bytes", folder / "random_bytes.avi", 415, "not_a_video"),
        BadCase("text", folder / "text.avi", 415, "not_a_video"),
        BadCase("unsupported_codec", folder / "unsupported_codec.avi", 415, "unsupported_codec"),
        BadCase("audio_only", folder / "audio_only.mp4", 415, "not_a_video"),
        BadCase("single_frame", folder / "single_frame.avi", 422, "too_short"),
        BadCase("too_many_frames", folder / "too_many_frames.avi", 413, "too_many_frames"),
        BadCase("too_large_file", folder / "too_large_file.avi", 413, "too_large"),
        BadCase("frame_too_large", folder / "frame_too_large.avi", 413, "frame_too_large"),
        BadCase("constant_grey", folder / "constant_grey.avi", 422, "blank"),
        BadCase("no_pixel_data", folder / "no_pixel_data.dcm", 422, "no_pixel_data"),
        BadCase("no_file", None, 400, "no_video"),
    ]
