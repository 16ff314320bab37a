"""OCR for de-identification tests: Tesseract's CLI (Debian package tesseract-ocr, installed when missing),
and a clip with a patient's name burned in inside and outside the scan sector.

A frame is read the way an attacker would: upscaled 4×, binarised at two levels (burned-in text is brighter
than speckle) and read in two page modes. The positive controls in the tests show this reads the name from
an uncleaned frame, so "no text found" in a cleaned one means something.
"""

from __future__ import annotations

import difflib
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

NAME = "DOE JANE"
CANVAS = (300, 400)  # a scanner screen: the 224×224 image sits at rows 40:264, columns 88:312
TOP, LEFT, SIZE = 40, 88, 224
LEVELS = (128, 200)
PAGE_MODES = ("6", "11")


def _apt(*args: str) -> str:
    """Run apt-get; "" on success, else its last line of output (or the error's name)."""
    try:
        done = subprocess.run(["apt-get", *args], capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return type(exc).__name__
    lines = (done.stderr or done.stdout).strip().splitlines()
    return "" if done.returncode == 0 else (lines[-1] if lines else f"exit {done.returncode}")


def tesseract() -> str:
    """The tesseract binary, installed with apt-get when missing (after an `apt-get update` if the package
    lists are stale); skipped when it cannot be installed, except under CI (env CI set), where a missing
    OCR would hide the check, so it fails instead."""
    found = shutil.which("tesseract")
    if found is None:
        why = _apt("install", "-y", "-q", "tesseract-ocr")
        if why and not _apt("update", "-q"):
            why = _apt("install", "-y", "-q", "tesseract-ocr")
        found = shutil.which("tesseract")
        if found is None:
            reason = f"tesseract-ocr is not installed and apt-get could not install it ({why or 'no binary'})"
            if os.environ.get("CI"):
                pytest.fail(reason)
            pytest.skip(reason)
    return found


def read_text(frame: np.ndarray) -> str:
    """Every text Tesseract finds in a grey frame (upscaled 4×, each binarisation × page mode), upper case."""
    binary = tesseract()
    big = cv2.resize(frame, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)
    texts = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in LEVELS:
            image = Path(tmp) / f"level{level}.png"
            cv2.imwrite(str(image), np.where(big > level, 0, 255).astype(np.uint8))  # dark text on white
            for mode in PAGE_MODES:
                done = subprocess.run(
                    [binary, str(image), "stdout", "--psm", mode], capture_output=True, text=True, timeout=60
                )
                texts.append(done.stdout)
    return " ".join(texts).upper()


def words(text: str) -> list[str]:
    return re.findall(r"[A-Z0-9]+", text)


def tokens(text: str) -> list[str]:
    """The words of three or more characters: OCR reads shorter ones in plain speckle (e.g. "OE" in a clip's
    mean frame with no text in it, which difflib matches to DOE), so they are no word of a name."""
    return [w for w in words(text) if len(w) >= 3]


def reads_name(text: str) -> bool:
    """Both words of NAME read exactly (what the positive control needs)."""
    return set(NAME.split()) <= set(words(text))


def near_name(text: str) -> list[str]:
    """Tokens that are the name's words or close to them (one letter wrong in JANE counts)."""
    found = tokens(text)
    return [w for part in NAME.split() for w in difflib.get_close_matches(part, found, n=5, cutoff=0.7)]


def name_in_frames(frames: np.ndarray, picks: int = 3) -> tuple[int, int]:
    """(frames where both words of NAME read exactly, frames with a near-name token) over the first `picks`
    frames. A burned-in name is static, so a leak reads in every frame; OCR of moving speckle sometimes reads
    a name-like token ("JAE") in one frame and not in the next (seen once on the nuisance simulator's
    clips, with no text in them), so a near name counts as a leak only in a majority of the frames."""
    texts = [read_text(frame) for frame in frames[:picks]]
    return sum(reads_name(t) for t in texts), sum(bool(near_name(t)) for t in texts)


def with_name(video: np.ndarray) -> np.ndarray:
    """The clip as a scanner exports it: enlarged on a bigger screen, NAME burned in above the image and,
    large, across the middle of the sector (static in every frame)."""
    out = np.zeros((len(video), *CANVAS), np.uint8)
    out[:, TOP : TOP + SIZE, LEFT : LEFT + SIZE] = [cv2.resize(f, (SIZE, SIZE)) for f in video]
    for frame in out:
        cv2.putText(frame, NAME, (5, 28), cv2.FONT_HERSHEY_SIMPLEX, 0.9, 255, 2)
        cv2.putText(frame, NAME, (LEFT + 30, TOP + 120), cv2.FONT_HERSHEY_SIMPLEX, 1.0, 255, 2)
    return out


def with_name_small(video: np.ndarray, side: int = 160) -> np.ndarray:
    """The clip at side² (within the test server's frame limit) with NAME burned in: small in the top-left
    corner, outside the fan, and large across the middle of the sector."""
    out = np.stack([cv2.resize(f, (side, side)) for f in video])
    for frame in out:
        cv2.putText(frame, NAME, (2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.35, 255, 1)
        cv2.putText(frame, NAME, (side // 10, side // 2), cv2.FONT_HERSHEY_SIMPLEX, side / 200, 255, 2)
    return out


def name_reads(views: list[np.ndarray], targets: tuple[str, ...] = tuple(NAME.split())) -> dict[str, int]:
    """For each of `targets` (the words of NAME by default), in how many of `views` (frames of one clip) OCR
    reads it or a word close to it (tokens of three or more characters). Burned-in text is static, so text
    that survived is read in frame after frame; the odd token OCR makes of speckle (three letters of JANE in
    one frame of a clean clip, measured) is read in one."""
    found = [tokens(read_text(view)) for view in views]
    return {
        target: sum(bool(difflib.get_close_matches(target, hits, n=1, cutoff=0.7)) for hits in found)
        for target in targets
    }
