"""Burned-in annotations inside the scan sector: static pixels found and filled, and how it is recorded.

The sector mask is filled to its convex hull (a fan is convex, and dropouts inside it must be kept), so a
name or a date that a scanner draws *inside* the fan survives the blanking outside it. What tells text from
anatomy is first time: speckle changes from frame to frame (interference plus electronic noise), burned-in
text changes only by its codec's noise. Where the tissue around a pixel changes clearly more than the pixel
does, the pixel is an overlay. Where the tissue itself hardly moves (the still far field of a portable
scanner's cine varies by 1-3 grey levels, as much as JPEG noise moves a letter), time alone cannot tell
them apart, and brightness does: legible text is drawn far brighter than the tissue under it. Tissue as
still as its surroundings and no brighter than them is anatomy and is kept (`static_pixels`).

Static pixels are not set to black: a black glyph on bright speckle is still a glyph, and OCR reads it.
They are filled, frame by frame, with the local mean of the moving pixels around them (a normalised
Gaussian convolution), so the letters' shape is gone along with their values. Pixels with no moving
neighbour within reach (a logo, a large static block) become 0.

What ingest did is recorded in the terms of DICOM PS3.15 (Basic Application Level Confidentiality Profile
and its options, by their DCM codes), so a receiving site can read what was removed without our docs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from ingest.sector import Region, Sector

STATIC_STD = 8.0  # grey levels, temporal std over the clip: MJPEG noise moves burned-in text by ~1-3, JPEG
# beside a moving wall by up to ~6 (measured on tests/vendor_cine.py); decorrelating speckle by tens
STATIC_CV = 0.03  # and std / mean at most this: speckle is multiplicative (std grows with the mean), so a
# dim, attenuated far field with a small std is still speckle; an overlay's codec noise is not proportional
# (text cores: 0.02; the still tissue of the vendor fixture: 0.04 at its median)
MIN_FRAMES = 8  # with fewer frames a speckle pixel is too often near-constant by chance: not cleaned
MAX_FRAMES = 128  # frames sampled for the std (evenly); a longer clip's overlay is static in these too
DARK = 24  # grey levels: a static pixel never brighter than this is background (black cavity, noise floor),
# already blank, and carries no text worth the name on the dark around it; it is left as it is
MIN_AREA = 6  # pixels: a static speck smaller than this is chance in speckle; a glyph stroke is larger
GROW = 1  # pixels the static mask grows by: antialiased glyph edges that the codec moved a little
LOCAL = 31  # pixels: the window of "the tissue around it" (wider than a glyph, narrower than the sector)
STILL_RATIO = 0.5  # an overlay on moving tissue changes at most half as much as the tissue around it
BRIGHT_RATIO, BRIGHT_MIN = 2.0, 100.0  # bright text: twice the local tissue's mean grey, and >= 100
BURNED_IN_POLICIES = ("clean", "reject")

# DICOM PS3.16 CID 7050 codes (scheme DCM) of PS3.15 Annex E's profile and options
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CLEAN_PIXELS = ("113101", "Clean Pixel Data Option")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
RECORD_FILE = "deidentification.json"


def _local_median(image: np.ndarray, scale: float) -> np.ndarray:
    """The median of `image` over a LOCAL×LOCAL window (cv2's wide median needs uint8: image × scale,
    so values above 255 / scale read as that)."""
    import cv2

    small = np.clip(np.rint(image * scale), 0, 255).astype(np.uint8)
    return cv2.medianBlur(small, LOCAL).astype(np.float32) / scale


def static_pixels(frames: np.ndarray, region: np.ndarray) -> np.ndarray:
    """bool [H, W]: the burned-in overlay pixels of `region`, in connected groups of at least MIN_AREA,
    grown by GROW (to non-dark pixels of `region`). A pixel brighter than DARK is an overlay when
    - it barely changes (temporal std ≤ STATIC_STD and ≤ STATIC_CV of its mean) while the tissue around it
      changes clearly more (std ≤ STILL_RATIO × the local median std): text on moving speckle; or
    - it is steady relative to its brightness (std ≤ STATIC_CV of its mean) and far brighter than the tissue
      around it (mean ≥ BRIGHT_RATIO × the local median mean and ≥ BRIGHT_MIN): bright text on tissue that
      itself hardly moves (a still field of a portable scanner, where a codec's noise on the text is as large
      as the tissue's own change, so time alone cannot tell them apart).
    Tissue that is as still as its surroundings and no brighter than them is kept (the anatomy of a calm
    clip). All False for clips shorter than MIN_FRAMES (`deidentified_clip` keeps none). The std comes from
    `ingest.sector.temporal_moments` (frame by frame, never a float copy of the clip)."""
    import cv2

    from ingest.sector import temporal_moments

    if len(frames) < MIN_FRAMES or not region.any():
        return np.zeros(region.shape, bool)
    mean, var, high = temporal_moments(frames, MAX_FRAMES)
    std = np.sqrt(var)
    bright = region & (high > DARK)
    steady = std <= STATIC_CV * mean
    # outside the region (black) reads as the region's typical pixel, so its edge is not compared with black
    local_std = _local_median(np.where(region, std, np.median(std[region])), 8.0)
    local_mean = _local_median(np.where(region, mean, np.median(mean[region])), 1.0)
    still = steady & (std <= STATIC_STD) & (std <= STILL_RATIO * local_std)
    glaring = steady & (mean >= BRIGHT_MIN) & (mean >= BRIGHT_RATIO * local_mean)
    static = (bright & (still | glaring)).astype(np.uint8)
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


def deidentify(
    frames: np.ndarray, size: int, regions: Sequence[Region] = ()
) -> tuple[np.ndarray, Sector] | None:
    """The de-identified clip every path that keeps pixels uses (ingest, serving's retained clips) and the
    sector it kept: the sector located (`ingest.sector.locate`, inside the header's image `regions` when
    given), static pixels inside it filled, everything outside blanked, cropped and resized to size².
    None when no sector is found or the clip has fewer than MIN_FRAMES frames (then the pixels cannot be
    cleaned and must not be kept)."""
    from ingest.deid import blank_and_resize
    from ingest.sector import locate

    if len(frames) < MIN_FRAMES:
        return None
    sector = locate(frames, regions)
    if sector is None:
        return None
    cleaned, _ = clean_sector(frames, sector.mask)
    return blank_and_resize(cleaned, sector.mask, size), sector


def deidentified_clip(frames: np.ndarray, size: int) -> np.ndarray | None:
    """`deidentify`'s clip alone, its sector found from the pixels only (serving's retained clips: the
    service's decode keeps no DICOM header, and regions would only narrow the search)."""
    done = deidentify(frames, size)
    return None if done is None else done[0]


def record(*, modified_dates: bool, sector: dict | None = None) -> dict:
    """What a de-identified clip's record says (PS3.15 terms): identity removed, the method in words and
    as codes, and (`sector`, from `Sector.record`) where the scan sector was found and the output's pixel
    size. Pixel cleaning is always applied, so the Clean Pixel Data Option is always listed."""
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
        **({"Sector": sector} if sector else {}),
    }
