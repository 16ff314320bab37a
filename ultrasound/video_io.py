"""Echo video IO: AVI / MP4 through PyAV, multi-frame ultrasound DICOM through pydicom, into uint8
[T, H, W] grey frames plus the frame rate; AVI (MJPEG, as EchoNet-Dynamic stores it) out.

A file that cannot be used raises VideoError naming the file and the reason, never a library traceback.
Hostile files are stopped before a decoder sees them: the container is chosen from the file's first bytes
(AVI, MP4 / MOV, DICOM only: an ffconcat list or an HLS playlist would make FFmpeg open other files), and
the decoded size the header declares is checked against `DecodeLimits` before the first frame is decoded.
Frames are then decoded one at a time into one preallocated uint8 array (ultrasound.container_io,
ultrasound.dicom_io), so memory is the grey output plus one frame, not three copies of the colour video.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DICOM_MAGIC_OFFSET = 128
DEFAULT_DICOM_FPS = 30.0
# ISO base media (MP4 / MOV) boxes a real file starts with; free / skip / wide may pad before them
ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat"}
ISO_PADDING_BOXES = {b"free", b"skip", b"wide"}
IMAGE_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"BM", b"II*\x00", b"MM\x00*")
MB = 1024 * 1024


class VideoError(ValueError):
    """A video that cannot be read; `reason` is one of REASONS."""

    REASONS = (
        "not_found",
        "empty",
        "not_a_video",
        "no_frames",
        "truncated",
        "unsupported_codec",
        "no_pixel_data",
        "too_many_frames",
        "frame_too_large",
        "too_large_decoded",
        "frame_size_changed",
    )

    def __init__(self, name: str, reason: str, detail: str) -> None:
        assert reason in self.REASONS, reason
        self.name, self.reason, self.detail = name, reason, detail
        super().__init__(f"{name}: {detail}")


class DecodeCancelled(Exception):
    """The caller's `cancel` event was set (a request that timed out): the frame loop stopped."""


@dataclass(frozen=True)
class Video:
    """Decoded grey frames: uint8 [T, H, W] and frames per second."""

    frames: np.ndarray
    fps: float

    @property
    def n_frames(self) -> int:
        return int(self.frames.shape[0])


def _source(src: str | Path | bytes, name: str | None) -> tuple[bytes | None, str, Path | None]:
    if isinstance(src, bytes | bytearray):
        return bytes(src), name or "<upload>", None
    path = Path(src)
    if not path.is_file():
        raise VideoError(name or str(path), "not_found", "no such file")
    return None, name or str(path), path


def is_dicom(data: bytes) -> bool:
    """Whether a byte string starts like a DICOM Part-10 file (preamble then 'DICM')."""
    return data[DICOM_MAGIC_OFFSET : DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _is_iso_media(head: bytes) -> bool:
    """Whether the first boxes are those of an MP4 / MOV file (ftyp, moov or mdat, after padding boxes)."""
    offset = 0
    while offset + 8 <= len(head):
        size, kind = int.from_bytes(head[offset : offset + 4], "big"), head[offset + 4 : offset + 8]
        if kind in ISO_FIRST_BOXES:
            return True
        if kind not in ISO_PADDING_BOXES or size < 8:
            return False
        offset += size
    return False


def sniff_format(head: bytes) -> str | None:
    """The container of a file from its first bytes: "avi", "mov" (MP4 / MOV) or "dicom"; None otherwise.

    This is the whitelist: FFmpeg's own probing would also accept an ffconcat list or an HLS playlist,
    which name other files (local paths, URLs) for the demuxer to open."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if is_dicom(head):
        return "dicom"
    if _is_iso_media(head):
        return "mov"
    return None


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds checked before and while decoding, so an oversized upload is refused before it fills memory:
    at most `max_frames` frames of at most `max_frame_pixels` pixels each, and at most `max_decoded_bytes`
    of decoded pixel data (frames x height x width x samples x bytes per sample; None: no bound)."""

    max_frames: int | None = None
    max_frame_pixels: int | None = None
    max_decoded_bytes: int | None = None

    def check(self, label: str, frames: int, height: int, width: int, frame_bytes: float = 0) -> None:
        """Raise VideoError when a declared or decoded size exceeds a bound (unknown sizes are 0).

        Args:
            frame_bytes: decoded bytes of one frame in the decoder's own pixel format (samples x bytes).
        """
        if self.max_frames is not None and frames > self.max_frames:
            raise VideoError(
                label, "too_many_frames", f"{frames} frames, above the limit of {self.max_frames}"
            )
        if self.max_frame_pixels is not None and height * width > self.max_frame_pixels:
            raise VideoError(
                label,
                "frame_too_large",
                f"{width}x{height} frames, above the limit of {self.max_frame_pixels} pixels per frame",
            )
        decoded = frames * frame_bytes
        if self.max_decoded_bytes is not None and decoded > self.max_decoded_bytes:
            raise VideoError(
                label,
                "too_large_decoded",
                f"{frames} frames of {width}x{height} take {decoded / MB:.4g} MB decoded, "
                f"above the limit of {self.max_decoded_bytes / MB:.4g} MB",
            )


NO_LIMITS = DecodeLimits()


def read_video(
    src: str | Path | bytes,
    name: str | None = None,
    limits: DecodeLimits = NO_LIMITS,
    cancel: threading.Event | None = None,
) -> Video:
    """Read an AVI, MP4 / MOV or multi-frame DICOM (a path or the file's bytes) into grey frames.

    Raises:
        VideoError: not found, empty, not one of the three formats (by its first bytes), no frames,
            truncated (fewer frames decoded than the container declares), unsupported codec, DICOM
            without pixel data, or more frames, larger frames or more decoded bytes than `limits` allow
            (checked on the declared sizes first, then on every decoded frame).
        DecodeCancelled: `cancel` was set; the frame loop checks it between frames, so a caller that
            gave up (a request past its timeout) gets its thread and memory back.
    """
    data, label, path = _source(src, name)
    if data is None:
        with path.open("rb") as fh:
            head = fh.read(256)
    else:
        head = data[:256]
    if not head:
        raise VideoError(label, "empty", "the file is empty")
    kind = sniff_format(head)
    if kind is None:
        image = head.startswith(IMAGE_MAGIC)
        detail = "an image file, not a video" if image else "not an AVI, MP4, MOV or DICOM file"
        raise VideoError(label, "not_a_video", detail)
    if kind == "dicom":
        from ultrasound.dicom_io import read_dicom

        return read_dicom(data if data is not None else path, label, limits, cancel)
    from ultrasound.container_io import read_container

    src = data if data is not None else path
    return read_container(src, label, limits, container_format=kind, cancel=cancel)


def write_avi(path: str | Path, frames: np.ndarray, fps: float = 50.0, quality: int = 95) -> Path:
    """Write grey frames uint8 [T, H, W] as an MJPEG AVI with three equal channels, as EchoNet stores them.

    OpenCV writes it (EchoNet's own tooling does the same); it is 3× faster than PyAV's encoder here.

    Args:
        quality: JPEG quality, 1–100.
    """
    import cv2

    path = Path(path)
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise ValueError(
            f"{path}: frames must be uint8 [T, H, W] with T > 0, got {frames.dtype} {frames.shape}"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    height, width = frames.shape[1:]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), float(fps), (width, height), True)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV could not open an MJPEG AVI writer")
    try:
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, quality)
        for grey in frames:
            writer.write(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR))
    finally:
        writer.release()
    return path
