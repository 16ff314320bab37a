"""Echo video IO: AVI / MP4 through PyAV, multi-frame ultrasound DICOM through pydicom, into uint8
[T, H, W] grey frames plus the frame rate; AVI (MJPEG, as EchoNet-Dynamic stores it) out.

A file that cannot be used raises VideoError naming the file and the reason, never a library traceback.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# container formats PyAV may report for real videos; still images (png_pipe, image2, ...) are refused
VIDEO_FORMATS = {"avi", "mov", "mp4", "m4a", "3gp", "3g2", "mj2", "matroska", "webm", "mpeg", "mpegts", "asf"}
DICOM_MAGIC_OFFSET = 128
DEFAULT_DICOM_FPS = 30.0


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
    )

    def __init__(self, name: str, reason: str, detail: str) -> None:
        assert reason in self.REASONS, reason
        self.name, self.reason, self.detail = name, reason, detail
        super().__init__(f"{name}: {detail}")


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


@dataclass(frozen=True)
class DecodeLimits:
    """Bounds checked before and while decoding, so an oversized upload is refused before it fills memory:
    at most `max_frames` frames of at most `max_frame_pixels` pixels each (None: no bound)."""

    max_frames: int | None = None
    max_frame_pixels: int | None = None

    def check(self, label: str, frames: int, height: int, width: int) -> None:
        """Raise VideoError when a declared or decoded size exceeds a bound (unknown sizes are 0)."""
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


NO_LIMITS = DecodeLimits()


def read_video(src: str | Path | bytes, name: str | None = None, limits: DecodeLimits = NO_LIMITS) -> Video:
    """Read an AVI, MP4 or multi-frame DICOM (a path or the file's bytes) into grey frames.

    Raises:
        VideoError: not found, empty, not a video, no frames, truncated (fewer frames decoded than the
            container declares), unsupported codec, DICOM without pixel data, or more frames or larger
            frames than `limits` allow (checked on the declared sizes first, then while decoding).
    """
    data, label, path = _source(src, name)
    head = data[:256] if data is not None else path.open("rb").read(256)
    if not head:
        raise VideoError(label, "empty", "the file is empty")
    if is_dicom(head):
        from ultrasound.dicom_io import read_dicom

        return read_dicom(data if data is not None else path, label, limits)
    return _read_container(io.BytesIO(data) if data is not None else str(path), label, limits)


def _read_container(target, label: str, limits: DecodeLimits = NO_LIMITS) -> Video:
    import av

    try:
        container = av.open(target, mode="r")
    except av.FFmpegError as exc:
        raise VideoError(label, "not_a_video", f"not a readable video ({exc.strerror or exc})") from None
    with container:
        fmt = set(container.format.name.split(","))
        streams = container.streams.video
        if not (fmt & VIDEO_FORMATS) or not streams:
            kind = (
                "an image" if any("pipe" in f or "image" in f for f in fmt) else f"a {container.format.name}"
            )
            raise VideoError(label, "not_a_video", f"{kind} file, not a video")
        stream = streams[0]
        declared = int(stream.frames or 0)
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        try:
            stream.codec_context  # noqa: B018 - raises when no decoder exists for the stream's codec
        except (av.error.DecoderNotFoundError, av.FFmpegError):
            tag = _codec_tag(stream)
            raise VideoError(
                label, "unsupported_codec", f"unsupported codec {tag!r}: no decoder for it"
            ) from None
        context = stream.codec_context  # None when no decoder exists; decoding below says so
        if context is not None:
            limits.check(label, declared, int(context.height or 0), int(context.width or 0))
        frames: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                limits.check(label, len(frames) + 1, frame.height, frame.width)
                frames.append(_grey(frame))
        except av.error.DecoderNotFoundError:
            tag = _codec_tag(stream)
            raise VideoError(
                label, "unsupported_codec", f"unsupported codec {tag!r}: no decoder for it"
            ) from None
        except av.FFmpegError as exc:
            if not frames:
                raise VideoError(
                    label, "not_a_video", f"no frame could be decoded ({exc.strerror or exc})"
                ) from None
            # frames decoded before the damage are kept; the declared count below decides if it is truncated
            declared = max(declared, len(frames) + 1)
    if not frames:
        raise VideoError(label, "no_frames", "the video holds no frames")
    if declared and len(frames) < declared:
        raise VideoError(
            label,
            "truncated",
            f"truncated: {len(frames)} frames decoded of {declared} the container declares",
        )
    return Video(np.stack(frames).astype(np.uint8), fps or 50.0)


# full-range planar YUV (MJPEG decodes to yuvj*): the luma plane already is the grey image, so the
# colour conversion that to_ndarray(format="gray") runs (most of the decode time) can be skipped
_LUMA_IS_GREY = {"gray", "yuvj420p", "yuvj422p", "yuvj444p"}


def _grey(frame) -> np.ndarray:
    """uint8 [H, W] grey of a decoded frame."""
    if frame.format.name in _LUMA_IS_GREY:
        plane = frame.planes[0]
        rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
        return rows[:, : frame.width].copy()
    return frame.to_ndarray(format="gray")


def _codec_tag(stream) -> str:
    """The stream's codec name or FourCC, for messages, without needing a decoder."""
    for attr in ("codec_tag", "name"):
        try:
            value = getattr(stream, attr)
        except (AttributeError, ValueError):
            continue
        if value:
            return str(value)
    return "unknown"


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
