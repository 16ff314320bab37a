"""Burned-in annotations inside the scan sector: static pixels found and filled, and how it is recorded.

The sector mask is filled to its convex hull (a fan is convex, and dropouts inside it must be kept), so a
name or a date that a scanner draws *inside* the fan survives the blanking outside it. What tells text from
anatomy is time: speckle changes from frame to frame even where tissue barely moves (it is interference
plus electronic noise), burned-in text does not change at all. A pixel whose value stays within
STATIC_STD grey levels (temporal std) over the whole clip is therefore an overlay, not anatomy.

Static pixels are not set to black: a black glyph on bright speckle is still a glyph, and OCR reads it.
They are filled, frame by frame, with the local mean of the moving pixels around them (a normalised
Gaussian convolution), so the letters' shape is gone along with their values. Pixels with no moving
neighbour within reach (a logo, a large static block) become 0.

What ingest did is recorded in the terms of DICOM PS3.15 (Basic Application Level Confidentiality Profile
and its options, by their DCM codes), so a receiving site can read what was removed without our docs.
"""

from __future__ import annotations

import numpy as np

STATIC_STD = 3.0  # grey levels, temporal std over the clip: MJPEG/JPEG noise moves burned-in text by ~1-3,
# speckle in the sector by tens (measured: 99 % of text pixels and 0.04 % of bright sector pixels fall below)
STATIC_CV = 0.05  # and std / mean at most this: speckle is multiplicative (std grows with the mean), so a
# dim, attenuated far field with a small std is still speckle; an overlay's codec noise is not proportional
MIN_FRAMES = 8  # with fewer frames a speckle pixel is too often near-constant by chance: not cleaned
MAX_FRAMES = 128  # frames sampled for the std (evenly); a longer clip's overlay is static in these too
DARK = 24  # grey levels: a static pixel never brighter than this is background (black cavity, noise floor),
# already blank, and carries no text worth the name on the dark around it; it is left as it is
MIN_AREA = 6  # pixels: a static speck smaller than this is chance in speckle; a glyph stroke is larger
GROW = 1  # pixels the static mask grows by: antialiased glyph edges that the codec moved a little
BURNED_IN_POLICIES = ("clean", "reject")

# DICOM PS3.16 CID 7050 codes (scheme DCM) of PS3.15 Annex E's profile and options
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXELS = ("113101", "Clean Pixel Data Option")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
RECORD_FILE = "deidentification.json"


def static_pixels(frames: np.ndarray, region: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels of `region` brighter than DARK whose temporal std stays below STATIC_STD and
    below STATIC_CV of their mean, in connected groups of at least MIN_AREA, grown by GROW (to non-dark
    pixels of `region`). All False for clips shorter than MIN_FRAMES (`deidentified_clip` keeps none).
    The std is accumulated frame by frame (two [H, W] sums, never a float copy of the clip)."""
    import cv2

    t = len(frames)
    if t < MIN_FRAMES:
        return np.zeros(region.shape, bool)
    idx = np.unique(np.linspace(0, t - 1, min(t, MAX_FRAMES)).round().astype(int))
    total = np.zeros(region.shape, np.float64)
    squares = np.zeros(region.shape, np.float64)
    high = np.zeros(region.shape, np.uint8)
    for i in idx:
        frame = frames[i]
        total += frame
        squares += np.square(frame, dtype=np.float64)
        np.maximum(high, frame, out=high)
    mean = total / len(idx)
    var = np.maximum(squares / len(idx) - mean * mean, 0.0)
    bright = region & (high > DARK)
    static = (bright & (var <= STATIC_STD**2) & (var <= (STATIC_CV * mean) ** 2)).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= MIN_AREA
    static = keep[labels]
    if GROW and static.any():
        kernel = np.ones((2 * GROW + 1, 2 * GROW + 1), np.uint8)
        static = cv2.dilate(static.astype(np.uint8), kernel).astype(bool) & bright
    return static


def fill_static(frames: np.ndarray, static: np.ndarray) -> np.ndarray:
    """`frames` (uint8 [T, H, W]) with the `static` pixels replaced, per frame, by the Gaussian-weighted mean
    of the non-static pixels around them (0 where none is near). Works on the static pixels' bounding box
    (plus the kernel's reach), so a clip with a small overlay costs little."""
    import cv2

    if not static.any():
        return frames
    h, w = static.shape
    sigma = max(2.0, min(h, w) / 60)
    reach = int(3 * sigma) + 1
    ys, xs = np.nonzero(static)
    y0, y1 = max(0, ys.min() - reach), min(h, ys.max() + 1 + reach)
    x0, x1 = max(0, xs.min() - reach), min(w, xs.max() + 1 + reach)
    hole = static[y0:y1, x0:x1]
    valid = (~hole).astype(np.float32)
    weight = cv2.GaussianBlur(valid, (0, 0), sigma)
    out = frames.copy()
    for frame in out:
        crop = frame[y0:y1, x0:x1]
        mean = cv2.GaussianBlur(crop.astype(np.float32) * valid, (0, 0), sigma)
        fill = np.where(weight > 1e-3, mean / np.maximum(weight, 1e-3), 0.0)
        crop[hole] = np.clip(np.rint(fill[hole]), 0, 255).astype(np.uint8)
    return out


def clean_sector(frames: np.ndarray, sector: np.ndarray) -> tuple[np.ndarray, int]:
    """The clip with the static pixels inside `sector` (the sector hull) filled, and how many there were.
    Outside the sector everything is blanked later by `blank_and_resize`."""
    static = static_pixels(frames, sector)
    return fill_static(frames, static), int(static.sum())


def deidentified_clip(frames: np.ndarray, size: int) -> np.ndarray | None:
    """The de-identified clip every path that keeps pixels uses (ingest, serving's retained clips): sector
    found, static pixels inside it filled, everything outside blanked, cropped and resized to size².
    None when no sector is found or the clip has fewer than MIN_FRAMES frames (then the pixels cannot be
    cleaned and must not be kept)."""
    from ingest.deid import blank_and_resize, sector_mask

    if len(frames) < MIN_FRAMES:
        return None
    mask = sector_mask(frames)
    if mask is None:
        return None
    cleaned, _ = clean_sector(frames, mask)
    return blank_and_resize(cleaned, mask, size)


def record(*, modified_dates: bool) -> dict:
    """What a de-identified clip's record says (PS3.15 terms): identity removed, the method in words and
    as codes. Pixel cleaning is always applied, so the Clean Pixel Data Option is always listed."""
    codes = [BASIC_PROFILE, CLEAN_PIXELS] + ([MODIFIED_DATES] if modified_dates else [])
    return {
        "PatientIdentityRemoved": "YES",
        "BurnedInAnnotation": "NO",
        "DeidentificationMethod": (
            "EchoJEPA ingest: PS3.15 Basic Application Level Confidentiality Profile (no source attribute "
            "copied); Clean Pixel Data (outside the scan sector blanked, static pixels inside it filled)"
            + ("; dates shifted per patient" if modified_dates else "")
        ),
        "DeidentificationMethodCodeSequence": [
            {"CodeValue": value, "CodingSchemeDesignator": "DCM", "CodeMeaning": meaning}
            for value, meaning in codes
        ],
    }
