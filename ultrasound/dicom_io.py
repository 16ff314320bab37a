"""Multi-frame ultrasound DICOM: read the cine loop into grey frames, and write one (tests, export)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import numpy as np

from ultrasound.video_io import (
    DEFAULT_DICOM_FPS,
    NO_LIMITS,
    DecodeCancelled,
    DecodeLimits,
    Video,
    VideoError,
)

US_MULTIFRAME_SOP = "1.2.840.10008.5.1.4.1.1.3.1"  # Ultrasound Multi-frame Image Storage


def _frame_rate(ds) -> float:
    """Frames per second from CineRate, FrameTime (ms) or RecommendedDisplayFrameRate, else the default."""
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        value = ds.get(keyword)
        if value:
            return float(value)
    frame_time = ds.get("FrameTime")
    if frame_time:
        return 1000.0 / float(frame_time)
    return DEFAULT_DICOM_FPS


def _int(value, default: int = 0) -> int:
    """A header count as an int; absent or malformed values give `default` (pydicom checks them later)."""
    try:
        return int(value) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


# grey from 8-bit RGB in integers: round((77 R + 150 G + 29 B) / 256), the BT.601 weights
# (0.299, 0.587, 0.114) in 8-bit fixed point, so no frame ever goes through float64
LUMA_WEIGHTS = (77, 150, 29)
LUMA_PLANE = {"YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT"}  # Y already is the grey image
PARTIAL_RANGE = {"YBR_PARTIAL_420", "YBR_PARTIAL_422"}  # Y in 16..235


def decoded_frame_bytes(ds) -> int:
    """Decoded bytes of one frame from the header alone: rows x columns x samples x bytes per sample."""
    samples = max(_int(ds.get("SamplesPerPixel"), 1), 1)
    bytes_per_sample = max((_int(ds.get("BitsAllocated"), 8) + 7) // 8, 1)
    return _int(ds.get("Rows")) * _int(ds.get("Columns")) * samples * bytes_per_sample


def _grey_into(frame: np.ndarray, photometric: str, dst: np.ndarray) -> None:
    """One decoded frame (H, W) or (H, W, 3) into `dst` [H, W], as uint8 grey when the pixels are 8-bit,
    as float32 grey otherwise (rescaled over the whole video afterwards)."""
    if frame.ndim == 3:
        if photometric in LUMA_PLANE:
            frame = frame[..., 0]
        elif photometric in PARTIAL_RANGE:
            luma = frame[..., 0].astype(np.int32)
            frame = np.clip(((luma - 16) * 255 + 109) // 219, 0, 255).astype(np.uint8)
        elif frame.dtype == np.uint8:
            r, g, b = (frame[..., i].astype(np.uint16) for i in range(3))
            w_r, w_g, w_b = LUMA_WEIGHTS
            frame = ((w_r * r + w_g * g + w_b * b + 128) >> 8).astype(np.uint8)
        else:
            frame = frame[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    dst[...] = frame


def _rescale_to_uint8(wide: np.ndarray) -> np.ndarray:
    """More-than-8-bit grey [T, H, W] to uint8 over the video's own range, one frame at a time (float32)."""
    lo, hi = float(wide.min()), float(wide.max())
    out = np.zeros(wide.shape, np.uint8)
    if hi > lo:
        for src, dst in zip(wide, out, strict=True):
            dst[...] = np.clip(np.rint((src.astype(np.float32) - lo) * (255.0 / (hi - lo))), 0, 255)
    return out


def read_dicom(
    src: bytes | str | Path,
    label: str,
    limits: DecodeLimits = NO_LIMITS,
    cancel: threading.Event | None = None,
) -> Video:
    """Read a (multi-frame) ultrasound DICOM into grey frames, one frame at a time.

    The header (read without decoding the pixels) gives frames x rows x columns x samples x bytes, which
    `limits` checks before the first frame is decoded; pydicom 3's frame iterator (`Decoder.iter_array`,
    what `pydicom.pixels.iter_pixels` wraps, which also reports the colour space each frame came out in)
    then yields one frame at a time, converted to grey into one preallocated array.

    Raises:
        VideoError: unreadable DICOM, no pixel data, pixel data that cannot be decoded, or more frames,
            larger frames or more decoded bytes than `limits` allow.
        DecodeCancelled: `cancel` was set between two frames.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(src) if isinstance(src, bytes) else str(src), defer_size=1024)
    except (InvalidDicomError, OSError, ValueError, EOFError, TypeError, AttributeError, KeyError) as exc:
        raise VideoError(label, "not_a_video", f"unreadable DICOM ({exc})") from None
    if "PixelData" not in ds:
        raise VideoError(label, "no_pixel_data", "the DICOM file holds no pixel data")
    frames, rows, cols = _int(ds.get("NumberOfFrames"), 1), _int(ds.get("Rows")), _int(ds.get("Columns"))
    limits.check(label, frames, rows, cols, decoded_frame_bytes(ds))
    eight_bit = _int(ds.get("BitsAllocated"), 8) <= 8
    out = np.empty((frames, rows, cols), np.uint8 if eight_bit else np.float32)
    if frames == 0:
        raise VideoError(label, "no_frames", "the DICOM file holds no frames")
    decoded = 0
    try:
        for frame, props in _iter_frames(ds):
            if cancel is not None and cancel.is_set():
                raise DecodeCancelled(label)
            if decoded >= frames or frame.shape[:2] != (rows, cols):
                raise VideoError(label, "truncated", "DICOM pixel data does not match its header")
            _grey_into(frame, str(props.get("photometric_interpretation", "")), out[decoded])
            decoded += 1
    except VideoError:
        raise
    except (NotImplementedError, RuntimeError) as exc:
        raise VideoError(label, "unsupported_codec", f"DICOM pixel data cannot be decoded ({exc})") from None
    except (ValueError, EOFError, KeyError, AttributeError, TypeError) as exc:
        raise VideoError(label, "truncated", f"DICOM pixel data is incomplete ({exc})") from None
    if decoded < frames:
        raise VideoError(
            label, "truncated", f"truncated: {decoded} frames decoded of {frames} the header declares"
        )
    return Video(out if eight_bit else _rescale_to_uint8(out), _frame_rate(ds))


def _iter_frames(ds):
    """(frame, pixel properties after decoding) for each frame of the dataset, in raw colour space."""
    from pydicom.pixels import as_pixel_options, get_decoder

    decoder = get_decoder(ds.file_meta.TransferSyntaxUID)
    return decoder.iter_array(ds, raw=True, validate=True, **as_pixel_options(ds))


def write_dicom(path: str | Path, frames: np.ndarray, fps: float = 50.0, **tags: str) -> Path:
    """Write grey frames uint8 [T, H, W] as an uncompressed Ultrasound Multi-frame DICOM.

    Extra keyword arguments become DICOM attributes by keyword (PatientName="Doe^Jane", ...).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = np.ascontiguousarray(frames, dtype=np.uint8)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_SOP
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME_SOP, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime = f"{1000.0 / fps:.3f}"
    ds.CineRate = round(fps)
    for keyword, value in tags.items():
        setattr(ds, keyword, value)
    ds.PixelData = frames.tobytes()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path
