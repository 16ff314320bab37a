"""A generated cine in the style of a portable scanner's DICOM export (our own fixture, no patient data).

What makes such exports hard, and what is drawn here:
- 240×320 RGB, 30 frames at 30 fps (one beat), JPEG Baseline with YBR_FULL_422 (every frame lossy,
  chroma halved), so static overlays carry a little codec noise and colours bleed;
- a fan (apex at the top, ±38°) whose tissue barely moves: outside the heart the speckle decorrelates
  only slightly from frame to frame and the far field is dim (low gain, attenuation); only the chambers'
  walls move; blood pools are black;
- the patient's name, ID and date burned in at the top left, the name again inside the fan (yellow);
  acquisition text at the top right; a frame counter that changes every frame (moving text);
- a grey bar and a colour bar at the right, depth dots beside the fan;
- a green ECG trace sweeping across the bottom of the fan (moving, thin, touching the sector);
- a control bar along the bottom with button labels.
With `regions=True` the header carries SequenceOfUltrasoundRegions: the 2D tissue region around the fan
(with its calibration, 0.0732 cm per pixel) plus an ECG waveform region and a grey-bar region.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

H, W, N_FRAMES, FPS = 240, 320, 30, 30.0
APEX = (160, 14)  # x, y
RADIUS, HALF_ANGLE = 205, np.deg2rad(38)
CM_PER_PIXEL = 15.0 / RADIUS
NAME = "DOE JANE"
TAGS = {"PatientName": "Doe^Jane", "PatientID": "MRN12345", "StudyDate": "20230115"}
OVERLAY_WORDS = ("DOE", "JANE", "MRN12345", "2023", "TIS", "FREEZE", "SAVE", "GAIN", "DEPTH")  # as OCR splits
SECRETS = ["Doe^Jane", "DOE JANE", "MRN12345", "20230115", "2023-01-15", "15/01/2023"]
REGION_BOX = (  # x0, y0, x1, y1 of the fan's bounding box
    APEX[0] - int(RADIUS * np.sin(HALF_ANGLE)), APEX[1], APEX[0] + int(RADIUS * np.sin(HALF_ANGLE)),
    APEX[1] + RADIUS,
)  # fmt: skip
# chambers of an apical four-chamber view: (centre x, centre y, semi-axis x, semi-axis y) at end-diastole
CHAMBERS = ((138, 92, 20, 44), (186, 96, 15, 36), (140, 168, 20, 20), (185, 168, 16, 18))


def fan_mask() -> np.ndarray:
    """bool [H, W]: where the scanner draws the image (the ground truth of sector detection)."""
    ys, xs = np.mgrid[0:H, 0:W]
    dx, dy = xs - APEX[0], ys - APEX[1]
    r = np.hypot(dx, dy)
    return (r >= 6) & (r <= RADIUS) & (np.abs(np.arctan2(dx, dy)) <= HALF_ANGLE)


def fan_iou(mask: np.ndarray) -> float:
    """Intersection over union of a found sector `mask` with the drawn fan."""
    fan = fan_mask()
    return float((mask & fan).sum() / (mask | fan).sum())


def _speckle(rng: np.random.Generator) -> np.ndarray:
    """Rayleigh-like speckle with grains of ~2×4 px (axial × lateral), mean 1."""
    re_, im = (cv2.GaussianBlur(rng.normal(size=(H, W)), (0, 0), sigmaX=2.0, sigmaY=1.0) for _ in range(2))
    amp = np.hypot(re_, im)
    return amp / amp.mean()


def _tissue(t: int) -> tuple[np.ndarray, np.ndarray]:
    """(brightness [H, W] of frame t, bool map of the moving heart) for a beat of N_FRAMES frames."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    depth = np.hypot(xs - APEX[0], ys - APEX[1]) / RADIUS
    base = 95 * np.exp(-2.2 * depth) + 18  # attenuation: near field bright, far field dim
    squeeze = 1.0 - 0.22 * (0.5 - 0.5 * np.cos(2 * np.pi * t / N_FRAMES))  # end-systole mid-beat
    walls = np.zeros((H, W), bool)
    blood = np.zeros((H, W), bool)
    for cx, cy, ax, ay in CHAMBERS:
        d = np.hypot((xs - cx) / (ax * squeeze), (ys - cy) / (ay * squeeze))
        blood |= d < 1.0
        walls |= (d >= 1.0) & (d < 1.35)
    bright = base + np.where(walls, 70, 0)
    bright[blood] = 4
    heart = cv2.dilate(walls.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    return bright, heart


def _ecg(x: np.ndarray) -> np.ndarray:
    """An ECG-like curve over pixel columns: a QRS spike once per beat width."""
    phase = (x % 110) / 110
    return 206 - 14 * np.exp(-(((phase - 0.3) / 0.015) ** 2)) + 4 * np.exp(-(((phase - 0.6) / 0.05) ** 2))


def _overlays(rgb: np.ndarray, t: int, text_inside: bool) -> None:
    """Burn the scanner's overlays into one RGB frame, in place."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(rgb, NAME, (4, 14), font, 0.45, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(rgb, "MRN12345", (4, 30), font, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(rgb, "15/01/2023", (4, 46), font, 0.4, (220, 220, 220), 1, cv2.LINE_AA)
    cv2.putText(rgb, "MI 0.9 TIS 0.4", (232, 14), font, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    cv2.putText(rgb, f"{t + 1:02d}/{N_FRAMES}", (262, 30), font, 0.35, (255, 255, 255), 1, cv2.LINE_AA)
    for i in range(120):  # grey bar and colour bar at the right
        rgb[40 + i, 304:310] = 255 - 2 * i
        hue = np.uint8([[[int(i * 1.5), 255, 255]]])
        rgb[40 + i, 312:318] = cv2.cvtColor(hue, cv2.COLOR_HSV2RGB)[0, 0]
    for cm in range(1, 15):  # depth dots along the fan's right edge
        y = APEX[1] + int(cm / CM_PER_PIXEL * np.cos(HALF_ANGLE))
        x = APEX[0] + int(cm / CM_PER_PIXEL * np.sin(HALF_ANGLE)) + 6
        cv2.circle(rgb, (x, y), 1, (255, 255, 255), -1)
    sweep = int((t + 1) / N_FRAMES * (W - 40)) + 20  # ECG drawn up to the sweep, erased ahead of it
    xs = np.arange(20, sweep)
    points = np.stack([xs, _ecg(xs + 37 * t // N_FRAMES)], axis=1).astype(np.int32)
    cv2.polylines(rgb, [points], False, (40, 230, 40), 1, cv2.LINE_AA)
    rgb[222:, :] = (48, 48, 56)  # control bar
    for i, label in enumerate(("FREEZE", "SAVE", "GAIN 52", "DEPTH 15")):
        cv2.putText(rgb, label, (8 + 80 * i, 235), font, 0.38, (235, 235, 235), 1, cv2.LINE_AA)
    if text_inside:
        cv2.putText(rgb, NAME, (84, 150), font, 1.1, (255, 255, 0), 2, cv2.LINE_AA)


def vendor_frames(seed: int = 0, text_inside: bool = True, overlays: bool = True) -> np.ndarray:
    """uint8 RGB [N_FRAMES, H, W]: the cine as the scanner shows it (before JPEG)."""
    rng = np.random.default_rng(seed)
    fixed = _speckle(rng)
    fan = fan_mask()
    out = np.zeros((N_FRAMES, H, W, 3), np.uint8)
    for t in range(N_FRAMES):
        bright, heart = _tissue(t)
        fresh = _speckle(rng)
        rho = np.where(heart, 0.8, 0.06)  # little decorrelation outside the heart, much at the walls
        speckle = np.sqrt(1 - rho**2) * fixed + rho * fresh
        noise = rng.normal(0.0, 1.5, (H, W))  # electronic noise
        grey = np.clip(bright * speckle + noise, 0, 255).astype(np.uint8)
        grey[~fan] = 0
        out[t] = grey[..., None]
        if overlays:
            _overlays(out[t], t, text_inside)
    return out


def _jpeg(rgb: np.ndarray, quality: int = 85) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=1)  # 4:2:2
    return buf.getvalue()


def _region(fmt: int, kind: int, box: tuple[int, int, int, int], delta: float = 0.0):
    from pydicom.dataset import Dataset

    item = Dataset()
    item.RegionSpatialFormat, item.RegionDataType, item.RegionFlags = fmt, kind, 0
    (item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1,
     item.RegionLocationMaxY1) = box  # fmt: skip
    if delta:
        item.PhysicalUnitsXDirection = item.PhysicalUnitsYDirection = 3  # cm
        item.PhysicalDeltaX = item.PhysicalDeltaY = delta
        item.ReferencePixelX0, item.ReferencePixelY0 = APEX[0] - box[0], 0
    return item


def tissue_region(box: tuple[int, int, int, int] = REGION_BOX):
    """A SequenceOfUltrasoundRegions item for a 2D tissue region over `box` (x0, y0, x1, y1)."""
    return _region(1, 1, box, CM_PER_PIXEL)


def write_vendor_cine(
    path: Path, frames: np.ndarray | None = None, regions: list | bool = False, **tags: str
) -> Path:
    """Write `frames` (default vendor_frames()) as a JPEG Baseline YBR_FULL_422 Ultrasound Multi-frame
    DICOM with the identifying TAGS and BurnedInAnnotation YES. `regions`: True for the scanner's own
    SequenceOfUltrasoundRegions, a list of region items for a header of one's choosing, False for none."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.sequence import Sequence
    from pydicom.uid import JPEGBaseline8Bit, generate_uid

    from ultrasound.dicom_io import US_MULTIFRAME_SOP

    frames = vendor_frames() if frames is None else frames
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = US_MULTIFRAME_SOP, generate_uid()
    meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = US_MULTIFRAME_SOP, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality, ds.Manufacturer, ds.ManufacturerModelName = "US", "Acme Medical", "Pocket 3"
    ds.SeriesDescription, ds.BurnedInAnnotation = "Apical 4 chamber", "YES"
    ds.NumberOfFrames, (ds.Rows, ds.Columns) = len(frames), frames.shape[1:3]
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_FULL_422", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.FrameTime, ds.CineRate = f"{1000.0 / FPS:.3f}", int(FPS)
    for keyword, value in {**TAGS, **tags}.items():
        setattr(ds, keyword, value)
    if regions is True:
        ecg, bar = _region(4, 0x0B, (0, 190, W - 1, 221)), _region(5, 0x0E, (300, 40, 319, 160))
        regions = [tissue_region(), ecg, bar]
    if regions:
        ds.SequenceOfUltrasoundRegions = Sequence(regions)
    ds.PixelData = encapsulate([_jpeg(f) for f in frames])
    ds["PixelData"].VR = "OB"
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(str(path), enforce_file_format=True)
    return path
