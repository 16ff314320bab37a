"""Multi-frame ultrasound DICOM: read the cine loop into grey frames, and write one (tests, export)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from ultrasound.video_io import DEFAULT_DICOM_FPS, NO_LIMITS, DecodeLimits, Video, VideoError

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


def _to_grey(pixels: np.ndarray, ds) -> np.ndarray:
    """[T, H, W] uint8 from grey or colour pixel data of any bit depth."""
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples == 1 and pixels.dtype == np.uint8:  # the common case: nothing to convert
        return pixels[None] if pixels.ndim == 2 else pixels
    if samples == 3:
        if str(ds.get("PhotometricInterpretation", "RGB")).startswith("YBR"):
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, ds.PhotometricInterpretation, "RGB")
        pixels = pixels @ np.array([0.299, 0.587, 0.114])
    if pixels.ndim == 2:
        pixels = pixels[None]
    if pixels.dtype != np.uint8:
        lo, hi = float(pixels.min()), float(pixels.max())
        pixels = (pixels - lo) * (255.0 / (hi - lo)) if hi > lo else np.zeros_like(pixels, dtype=np.float32)
    return np.clip(np.rint(pixels), 0, 255).astype(np.uint8)


def read_dicom(src: bytes | str | Path, label: str, limits: DecodeLimits = NO_LIMITS) -> Video:
    """Read a (multi-frame) ultrasound DICOM into grey frames.

    Raises:
        VideoError: unreadable DICOM, no pixel data, pixel data that cannot be decoded, or more frames or
            larger frames than `limits` allow (checked on the header before the pixels are decoded).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(src) if isinstance(src, bytes) else str(src))
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise VideoError(label, "not_a_video", f"unreadable DICOM ({exc})") from None
    if "PixelData" not in ds:
        raise VideoError(label, "no_pixel_data", "the DICOM file holds no pixel data")
    limits.check(label, _int(ds.get("NumberOfFrames"), 1), _int(ds.get("Rows")), _int(ds.get("Columns")))
    try:
        pixels = ds.pixel_array
    except (NotImplementedError, RuntimeError) as exc:
        raise VideoError(label, "unsupported_codec", f"DICOM pixel data cannot be decoded ({exc})") from None
    except (ValueError, EOFError) as exc:
        raise VideoError(label, "truncated", f"DICOM pixel data is incomplete ({exc})") from None
    frames = _to_grey(np.asarray(pixels), ds)
    if frames.shape[0] == 0:
        raise VideoError(label, "no_frames", "the DICOM file holds no frames")
    return Video(frames, _frame_rate(ds))


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
