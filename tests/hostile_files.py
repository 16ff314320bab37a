"""Hostile uploads built from real bytes, fast: decompression bombs whose header declares far more decoded
pixels than the file holds bytes, and FFmpeg manifests (ffconcat, HLS) that name a FIFO canary.

A bomb repeats one compressed frame (PyAV muxes the same MJPEG packet; the DICOM repeats one RLE
fragment), so a 1000-frame 1024x1024 file is written in well under a second and is a genuine, decodable
video: only the decode budget stands between it and gigabytes of frames.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import av
import numpy as np
import pydicom
from pydicom.encaps import encapsulate
from pydicom.uid import RLELossless

from ultrasound.dicom_io import write_dicom


def speckle_frame(height: int, width: int, seed: int = 0, grain: int = 16) -> np.ndarray:
    """uint8 [H, W]: speckle of `grain`-pixel cells (16: a JPEG of ~20 kB per 1024x1024 frame; finer
    grains make larger JPEGs that are slower to decode)."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 255, (height // grain + 1, width // grain + 1), dtype=np.uint8)
    return np.kron(coarse, np.ones((grain, grain), np.uint8))[:height, :width].copy()


def mjpeg_avi(frames: int, height: int, width: int, fps: int = 30, pix_fmt: str = "yuvj420p") -> bytes:
    """An MJPEG AVI of `frames` copies of one speckle frame (each a full JPEG, as MJPEG stores them);
    `pix_fmt` yuvj444p makes a colour cine (3 samples per pixel once decoded)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="avi") as container:
        stream = container.add_stream("mjpeg", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        grey = speckle_frame(height, width)
        tint = (grey // 2, 255 - grey) if pix_fmt == "yuvj444p" else (grey, grey)  # colour or grey
        rgb = np.stack([grey, *tint], axis=-1)
        image = av.VideoFrame.from_ndarray(rgb, format="rgb24")
        (packet,) = stream.encode(image.reformat(format=pix_fmt))
        payload, time_base = bytes(packet), packet.time_base
        for i in range(frames):
            copy = av.Packet(payload)
            copy.stream, copy.time_base, copy.pts, copy.dts = stream, time_base, i, i
            copy.is_keyframe = True
            container.mux(copy)
    return buf.getvalue()


def _rle_constant_frame(rows: int, cols: int, values: tuple[int, ...], striped: bool = False) -> bytes:
    """One RLE Lossless frame: a 64-byte header, then one segment per sample of runs of 128 pixels
    (PackBits: header byte -127, then the value), constant per sample or, `striped`, changing every run."""
    pixels = rows * cols
    segments = []
    for value in values:
        runs, rest = divmod(pixels, 128)
        if striped:
            seg = b"".join(bytes([0x81, (value + 37 * (i % 5)) % 256]) for i in range(runs))
        else:
            seg = bytes([0x81, value]) * runs
        seg += bytes([257 - rest, value]) if rest > 1 else b""
        seg += bytes([0, value]) if rest == 1 else b""
        segments.append(seg + b"\x00" * (len(seg) % 2))
    offsets, position = [], 64
    for seg in segments:
        offsets.append(position)
        position += len(seg)
    header = struct.pack("<16I", len(segments), *offsets, *([0] * (15 - len(segments))))
    return header + b"".join(segments)


def rgb_rle_dicom(
    path: Path, frames: int, rows: int, cols: int, values: tuple[int, ...] = (90, 120, 60), striped=False
) -> Path:
    """An RLE Lossless ultrasound multi-frame DICOM of `frames` identical frames: RGB, or grey
    (MONOCHROME2) when `values` holds one sample; `striped` frames are not blank (pydicom's RLE decoder
    takes ~60 ms per 1016x708 RGB frame: a slow, accepted upload)."""
    write_dicom(path, np.zeros((2, 8, 8), np.uint8))
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, rows, cols
    if len(values) == 3:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.file_meta.TransferSyntaxUID = RLELossless
    ds.PixelData = encapsulate([_rle_constant_frame(rows, cols, values, striped)] * frames)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def ffconcat(target: str) -> bytes:
    """An ffconcat list naming `target` (resolved by FFmpeg against the reader's working directory)."""
    return f"ffconcat version 1.0\nfile {target}\n".encode()


def hls_playlist(segment: str) -> bytes:
    """An HLS playlist with one MPEG-TS segment `segment` (resolved against the playlist's location)."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:10.0,\n{segment}\n#EXT-X-ENDLIST\n"
    ).encode()


class FifoCanary:
    """A FIFO that a reader blocks on when it opens it; `opened()` says whether anyone holds it open for
    reading (a non-blocking open for writing fails with ENXIO while nobody does)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        os.mkfifo(self.path)

    def opened(self) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            return False
        os.close(fd)  # the reader sees end of file and goes on
        return True

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def jpeg_dicom(path: Path, frames: int, rows: int, cols: int) -> Path:
    """A grey JPEG Baseline multi-frame DICOM repeating one speckle frame: decoding it costs ~10 ms a
    megapixel frame (Pillow), so 280 frames of 1024x1024 (280 MB decoded, accepted) take seconds."""
    import cv2
    from pydicom.uid import JPEGBaseline8Bit

    _, jpeg = cv2.imencode(".jpg", speckle_frame(rows, cols), [cv2.IMWRITE_JPEG_QUALITY, 90])
    write_dicom(path, np.zeros((2, 8, 8), np.uint8))
    ds = pydicom.dcmread(path)
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, rows, cols
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([jpeg.tobytes()] * frames)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path
