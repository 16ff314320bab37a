"""Checking an upload before the model sees it, and the quality report that travels with a prediction.

A video is refused (BadInput, 4xx, one sentence) when it is empty, not an AVI / MP4 / MOV / DICOM by its
first bytes, truncated, in an unsupported codec, a DICOM without pixels, larger than the upload, frame,
length or decoded-size limits (the last checked on the header, before decoding), shorter than one
clip, has frames too small to hold an image, or is blank (a constant grey). Quality metrics and the likely
degradation causes come from ultrasound.quality and the shared cause classifier (ultrasound.causes).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from serving.errors import BadInput, from_video_error
from ultrasound.causes import CauseVerdict, classify_causes
from ultrasound.quality import quality_metrics
from ultrasound.video_io import DecodeCancelled, DecodeLimits, Video, VideoError, read_video

if TYPE_CHECKING:
    from serving.config import ServingConfig

log = logging.getLogger(__name__)

MIN_SIDE = 32  # pixels: smaller frames cannot hold a scan sector
BLANK_SAMPLE_FRAMES = 16


@dataclass(frozen=True)
class InputLimits:
    """What an upload may be; params.yaml `serving:` holds the values (see ServingConfig)."""

    max_upload_bytes: int = 100 * 1024 * 1024
    max_frames: int = 1000
    max_frame_pixels: int = 1024 * 1024
    max_decoded_bytes: int = 300 * 1024 * 1024
    min_frames: int = 16
    min_grey_std: float = 1.0

    def decode_limits(self) -> DecodeLimits:
        """The bounds the decoder itself checks, before and while decoding."""
        return DecodeLimits(self.max_frames, self.max_frame_pixels, self.max_decoded_bytes)

    @classmethod
    def from_config(cls, config: ServingConfig) -> InputLimits:
        return cls(
            max_upload_bytes=config.max_upload_bytes, max_frames=config.max_frames,
            max_frame_pixels=config.max_frame_pixels, max_decoded_bytes=config.max_decoded_bytes,
            min_frames=config.min_frames,
            min_grey_std=config.min_grey_std,
        )  # fmt: skip


def decode_video(
    data: bytes, filename: str, limits: InputLimits, cancel: threading.Event | None = None
) -> Video:
    """The upload's grey frames, or BadInput naming what is wrong with it.

    Raises:
        BadInput: 4xx with one sentence (a decoded size above the limit: 413 before any frame is decoded).
        DecodeCancelled: `cancel` was set (the request timed out) before the last frame.
    """
    if not data:
        raise BadInput("the uploaded file is empty", status=400, reason="empty")
    if len(data) > limits.max_upload_bytes:
        raise BadInput(
            f"the file is {len(data) / 2**20:.1f} MB, above the {limits.max_upload_bytes / 2**20:g} MB limit",
            status=413, reason="too_large",
        )  # fmt: skip
    try:
        video = read_video(data, filename, limits.decode_limits(), cancel)
    except VideoError as exc:
        raise from_video_error(exc) from None
    except DecodeCancelled:
        raise
    except Exception as exc:  # a decoder library failing on hostile bytes is still the file's fault
        log.warning("decoder failed on an upload: %s", exc.__class__.__name__)
        raise BadInput("the file cannot be decoded as a video", status=422, reason="undecodable") from None
    check_frames(video, limits)
    return video


def check_frames(video: Video, limits: InputLimits) -> None:
    """Length, frame size and content checks on decoded frames (BadInput)."""
    t, h, w = video.frames.shape
    if t < limits.min_frames:
        noun = "frame" if t == 1 else "frames"
        raise BadInput(
            f"the video has {t} {noun}; at least {limits.min_frames} are needed to cover a clip",
            status=422, reason="too_short",
        )  # fmt: skip
    if min(h, w) < MIN_SIDE:
        raise BadInput(
            f"the frames are {w}x{h} pixels; at least {MIN_SIDE}x{MIN_SIDE} are needed",
            status=422, reason="frame_too_small",
        )  # fmt: skip
    sample = video.frames[np.linspace(0, t - 1, min(t, BLANK_SAMPLE_FRAMES)).astype(int)]
    if float(sample.std()) < limits.min_grey_std:
        raise BadInput(
            "the video is blank (every pixel has the same grey level): there is no ultrasound image",
            status=422, reason="blank",
        )  # fmt: skip


def measure_quality(
    video: Video, cancel: threading.Event | None = None
) -> tuple[dict[str, float], CauseVerdict]:
    """Quality metrics of the whole video and the cause classifier's verdict on them; `cancel` stops the
    metrics between two frames (DecodeCancelled, answered 504 like a cancelled decode)."""
    try:
        metrics = quality_metrics(video.frames, video.fps, cancel)
    except DecodeCancelled:
        raise
    except Exception as exc:  # degenerate geometry the metrics cannot handle
        log.warning("quality metrics failed on an upload: %s", exc.__class__.__name__)
        raise BadInput("image quality cannot be measured on this video", reason="unmeasurable") from None
    return metrics, classify_causes(metrics)


def quality_report(metrics: dict[str, float], verdict: CauseVerdict) -> dict:
    """{metrics, degraded, causes, warnings}: the warnings name each likely cause and, when the video is
    degraded, say that its EF should not be trusted."""
    warnings = list(verdict.warnings)
    if verdict.degraded:
        warnings.append(
            f"EF should not be trusted on this video: its image quality is degraded "
            f"({', '.join(verdict.causes)}); re-acquire the view before using the measurement"
        )
    return {
        "metrics": {k: float(v) for k, v in metrics.items()},
        "degraded": bool(verdict.degraded),
        "causes": list(verdict.causes),
        "warnings": warnings,
    }
