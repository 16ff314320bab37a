"""What serving says when it refuses a request: one sentence, an HTTP status and a short reason id.

Every refusal of bad input is a `BadInput`; the service turns it into `{"error": message}` with its status
(never a 5xx) and counts it in `echojepa_bad_input_total{reason}`. Messages never echo the client's file
name or any header value: a file name may hold a patient's name.
"""

from __future__ import annotations

from ultrasound.video_io import VideoError

FORMATS = "send an AVI, MP4 or multi-frame DICOM video"
MAX_DETAIL = 120

# the one-line answer when the ledger names no production model (GET /readyz, every API call)
NO_MODEL = (
    "no production model: run `echojepa retrain` and have a reviewer approve its candidate "
    "(`echojepa release sign CANDIDATE --approve --key KEY`, then `echojepa release approve LINE`), "
    "which packages it and makes it production"
)


class ServingError(Exception):
    """A refusal with an HTTP status and a one-line message."""

    status = 500
    reason = "error"

    def __init__(self, message: str, status: int | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status or self.status
        self.reason = reason or self.reason


class BadInput(ServingError):
    """The request or its video cannot be used (4xx)."""

    status = 422
    reason = "bad_input"


class ModelUnavailable(ServingError):
    """No production model is loaded, or it changed during the request (503)."""

    status = 503
    reason = "no_model"


# VideoError reason -> (HTTP status, sentence); {detail} is video_io's own phrase about the file
_VIDEO_ERRORS: dict[str, tuple[int, str]] = {
    "empty": (400, "the uploaded file is empty"),
    "not_found": (400, "the uploaded file could not be read"),
    "not_a_video": (415, "the file is not a readable video; " + FORMATS),
    "unsupported_codec": (415, "the video cannot be decoded ({detail}); re-encode it as MJPEG or H.264"),
    "truncated": (422, "the video is {detail}; upload the whole file"),
    "no_frames": (422, "the video holds no frames; " + FORMATS),
    "no_pixel_data": (422, "the DICOM file holds no pixel data: there is no cine loop to analyse"),
    "too_many_frames": (413, "the video is too long ({detail}); trim it to one view of a few beats"),
    "frame_too_large": (413, "the video's frames are too large ({detail}); export it at a lower resolution"),
    "too_large_decoded": (
        413,
        "the video is too large once decoded ({detail}); send fewer frames or a lower resolution",
    ),
    "frame_size_changed": (
        422,
        "the video's frames change size ({detail}); export it again as one cine loop",
    ),
}


def from_video_error(error: VideoError) -> BadInput:
    """The client-facing refusal for a video that ultrasound.video_io could not read."""
    status, template = _VIDEO_ERRORS.get(error.reason, (422, "the video cannot be read ({detail})"))
    if error.reason == "not_a_video" and "image" in error.detail:
        template = "the file is an image, not a video; " + FORMATS
    detail = " ".join(error.detail.split()).rstrip(".")  # one line, whatever a decoder library said
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 1] + "…"
    return BadInput(template.format(detail=detail), status=status, reason=error.reason)
