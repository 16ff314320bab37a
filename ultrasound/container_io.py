"""AVI and MP4 / MOV through PyAV, frame by frame into one preallocated uint8 [T, H, W] grey array.

The demuxer is the one `video_io.sniff_format` chose from the file's first bytes, never FFmpeg's guess,
and the file reaches it as a Python file object: FFmpeg opens no protocol (file, http, concat ...) itself,
so a container cannot make it read another file. The decoded size the stream declares (frames x the
decoder's bytes per frame) is checked before the first frame is decoded, and again on every frame, so a
header that understates its length still stops at the limit.
"""

from __future__ import annotations

import contextlib
import io
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ultrasound.video_io import NO_LIMITS, DecodeCancelled, DecodeLimits, Video, VideoError

# full-range planar YUV (MJPEG decodes to yuvj*): the luma plane already is the grey image, so the
# colour conversion that to_ndarray(format="gray") runs (most of the decode time) can be skipped
_LUMA_IS_GREY = {"gray", "yuvj420p", "yuvj422p", "yuvj444p"}
UNKNOWN_FORMAT_BYTES = 3  # an undeclared pixel format counts as 8-bit RGB (the usual worst case)
DEFAULT_FPS = 50.0


def frame_bytes(pix_fmt: str | None, width: int, height: int) -> float:
    """Decoded bytes of one frame in the decoder's pixel format (yuvj420p: 1.5 per pixel, rgb24: 3)."""
    import av

    try:
        return av.VideoFormat(pix_fmt, width, height).padded_bits_per_pixel * width * height / 8
    except (TypeError, ValueError):
        return float(UNKNOWN_FORMAT_BYTES * width * height)


@contextlib.contextmanager
def open_container(src: bytes | str | Path, container_format: str | None) -> Iterator:
    """A PyAV input container over the file's bytes (or an open file object of a path), closed with the
    file on leaving the block.

    `container_format` None lets FFmpeg probe the format itself: the behaviour the whitelist exists to
    prevent, kept only so tests can show what it would open (their positive control)."""
    import av

    with contextlib.ExitStack() as stack:
        if container_format is None:
            target = str(src) if isinstance(src, str | Path) else io.BytesIO(src)
            container = av.open(target, mode="r")
        else:
            if isinstance(src, str | Path):
                target = stack.enter_context(Path(src).open("rb"))
            else:
                target = io.BytesIO(src)
            container = av.open(target, mode="r", format=container_format)
        stack.callback(container.close)  # before the file it reads (last in, first out)
        yield container


def read_container(
    src: bytes | str | Path,
    label: str,
    limits: DecodeLimits = NO_LIMITS,
    *,
    container_format: str | None,
    cancel: threading.Event | None = None,
) -> Video:
    """Decode an AVI or MP4 / MOV (bytes or a path) into grey frames within `limits`.

    Raises:
        VideoError: not a readable container, no video stream, unsupported codec, too long, too large
            (declared or decoded), frames changing size, no frames, truncated.
        DecodeCancelled: `cancel` was set between two frames.
    """
    import av

    with contextlib.ExitStack() as stack:
        try:
            container = stack.enter_context(open_container(src, container_format))
        except av.FFmpegError as exc:
            raise VideoError(label, "not_a_video", f"not a readable video ({exc.strerror or exc})") from None
        if not container.streams.video:
            raise VideoError(label, "not_a_video", f"a {container.format.name} file without a video stream")
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.base_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        try:
            context = stream.codec_context  # raises when no decoder exists for the stream's codec
        except (av.error.DecoderNotFoundError, av.FFmpegError):
            context = None
        if context is None:
            raise VideoError(
                label, "unsupported_codec", f"unsupported codec {_codec_tag(stream)!r}: no decoder for it"
            )
        declared = int(stream.frames or 0) or _frames_from_duration(container, fps)
        height, width = int(context.height or 0), int(context.width or 0)
        limits.check(label, declared, height, width, frame_bytes(context.pix_fmt, width, height))
        frames, damaged = _decode(container, stream, label, limits, declared, cancel)
        declared = int(stream.frames or 0)
    if damaged or (declared and len(frames) < declared):
        declared = max(declared, len(frames) + 1)
        raise VideoError(
            label,
            "truncated",
            f"truncated: {len(frames)} frames decoded of {declared} the container declares",
        )
    return Video(frames, fps or DEFAULT_FPS)


def _frames_from_duration(container, fps: float) -> int:
    """A frame-count estimate when the stream does not declare one (duration x rate), else 0."""
    duration = container.duration  # microseconds
    return round(duration / 1e6 * fps) if duration and fps else 0


def _decode(container, stream, label, limits, declared, cancel) -> tuple[np.ndarray, bool]:
    """Frames into one array sized from the declared count (grown, checked, if the header understated),
    and whether decoding stopped at damaged data."""
    import av

    out: np.ndarray | None = None
    count, size, per_frame, damaged = 0, None, 0.0, False
    try:
        for frame in container.decode(stream):
            if cancel is not None and cancel.is_set():
                raise DecodeCancelled(label)
            if size is None:
                size = (frame.height, frame.width)
                per_frame = frame_bytes(frame.format.name, frame.width, frame.height)
                out = np.empty((max(declared, 1), *size), dtype=np.uint8)
            elif (frame.height, frame.width) != size:
                raise VideoError(
                    label, "frame_size_changed",
                    f"frame {count} is {frame.width}x{frame.height}, the first was {size[1]}x{size[0]}",
                )  # fmt: skip
            limits.check(label, count + 1, frame.height, frame.width, per_frame)
            if count == len(out):  # more frames than declared: grow by half (realloc), within the limits
                out.resize((count + count // 2 + 1, *size), refcheck=False)
            _grey_into(frame, out[count])
            count += 1
    except av.error.DecoderNotFoundError:
        raise VideoError(
            label, "unsupported_codec", f"unsupported codec {_codec_tag(stream)!r}: no decoder for it"
        ) from None
    except av.FFmpegError as exc:
        if not count:
            raise VideoError(
                label, "not_a_video", f"no frame could be decoded ({exc.strerror or exc})"
            ) from None
        damaged = True  # frames decoded before the damage are kept, and the video counts as truncated
    if out is None or not count:
        raise VideoError(label, "no_frames", "the video holds no frames")
    if count != len(out):  # fewer than declared or estimated: give the tail back (realloc, no copy)
        out.resize((count, *size), refcheck=False)
    return out, damaged


def _grey_into(frame, dst: np.ndarray) -> None:
    """Write the uint8 [H, W] grey of a decoded frame into `dst` (swscale's integer conversion when the
    frame is not already luma)."""
    if frame.format.name not in _LUMA_IS_GREY:
        frame = frame.reformat(format="gray")
    plane = frame.planes[0]
    rows = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)
    dst[...] = rows[:, : frame.width]


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
