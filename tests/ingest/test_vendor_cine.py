"""A portable scanner's export (tests/vendor_cine.py: 30 frames, JPEG YBR_FULL_422, overlays inside and
outside the fan, a still field outside the heart) ingests with its sector found, with and without the
header's SequenceOfUltrasoundRegions, and OCR reads no name in what ingest wrote (positive controls: the
input frame, and the pipeline with the in-sector cleaning off, read it). A hostile region list cannot move
the sector onto the name; the one-beat clip is quarantined at validate with its reason, never unreadable."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from data_contracts.validate import QUARANTINE_COLUMN, validate_dataset
from ingest import burned_in, ingest_source, sector
from tests import vendor_cine as vc
from tests.configs import section
from tests.ingest.conftest import read_rows
from tests.ocr import name_reads, read_text, reads_name, tesseract
from ultrasound.dicom_io import read_dicom
from ultrasound.video_io import read_video

SEED = 3


@pytest.fixture(scope="module")
def cines(tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """The same cine written with the scanner's regions (True) and without (False), one folder each."""
    root = tmp_path_factory.mktemp("vendor")
    frames = vc.vendor_frames(SEED)
    return {
        flag: vc.write_vendor_cine(root / f"regions-{flag}" / "cine.dcm", frames, flag)
        for flag in (True, False)
    }


def _regions(path: Path, shape: tuple[int, int]) -> list[sector.Region]:
    return sector.image_regions(pydicom.dcmread(path, stop_before_pixels=True), shape)


@pytest.mark.parametrize("with_regions", [True, False])
def test_the_sector_is_found_with_and_without_the_header_regions(
    cines: dict[bool, Path], with_regions: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = read_dicom(cines[with_regions], "x").frames
    assert frames.shape == (vc.N_FRAMES, vc.H, vc.W)
    found = sector.locate(frames, _regions(cines[with_regions], frames.shape[1:]))
    assert found is not None and vc.fan_iou(found.mask) >= 0.95, (
        None if found is None else vc.fan_iou(found.mask)
    )
    assert found.source == ("regions" if with_regions else "pixels")
    if with_regions:  # the tissue region's calibration, not the ECG's or the grey bar's
        assert found.cm_per_pixel == pytest.approx((vc.CM_PER_PIXEL, vc.CM_PER_PIXEL))
        ys, xs = np.nonzero(found.mask)
        side = max(np.ptp(ys) + 1, np.ptp(xs) + 1)
        mm = found.record(112)["output_mm_per_pixel"]
        assert mm == pytest.approx([10 * vc.CM_PER_PIXEL * side / 112] * 2, rel=1e-3)
    # control: the detector as it was (motion above 2 grey levels) misses much of this still fan
    monkeypatch.setattr(sector, "MOTION_STD", 2.0)
    monkeypatch.setattr(sector, "MEAN_FLOOR", -1.0)
    before = sector.locate(frames)
    assert before is None or vc.fan_iou(before.mask) < 0.9


HOSTILE = {
    "beyond the frame": [vc.tissue_region((0, 0, 2**32 - 1, 2**32 - 1))],
    "inverted": [vc.tissue_region((300, 200, 10, 5))],
    "over the name only": [vc.tissue_region((0, 0, 100, 50))],
    "not an image region": [vc._region(4, 0x0B, (0, 0, vc.W - 1, vc.H - 1))],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_region_list_cannot_move_the_sector(case: str, tmp_path: Path) -> None:
    path = vc.write_vendor_cine(tmp_path / "cine.dcm", vc.vendor_frames(SEED), HOSTILE[case])
    frames = read_dicom(path, "x").frames
    regions = _regions(path, frames.shape[1:])
    assert all(0 <= r.box[0] <= r.box[2] < vc.W and 0 <= r.box[1] <= r.box[3] < vc.H for r in regions)
    found = sector.locate(frames, regions)
    assert found is not None and vc.fan_iou(found.mask) >= 0.95, (
        case,
        None if found is None else vc.fan_iou(found.mask),
    )
    assert not found.mask[:50, :100].any()  # the name's corner is never part of the sector


def test_a_region_over_half_the_fan_narrows_the_sector_and_never_widens_it(cines: dict[bool, Path]) -> None:
    frames = read_dicom(cines[False], "x").frames
    half = sector.Region((0, 0, vc.APEX[0], vc.H - 1), None)
    found = sector.locate(frames, [half])
    assert found is not None and found.source == "regions"
    assert not found.mask[:, vc.APEX[0] + 1 :].any() and found.mask.sum() >= 0.4 * vc.fan_mask().sum()


def _views(frames: np.ndarray) -> list[np.ndarray]:
    """Six frames spread over the clip and its mean frame: what OCR is run on."""
    return [
        *frames[np.linspace(0, len(frames) - 1, 6).round().astype(int)],
        frames.mean(axis=0).astype(np.uint8),
    ]


def _output(out: Path) -> tuple[np.ndarray, dict]:
    (row,) = read_rows(out / "FileList.csv")
    record = json.loads((out / burned_in.RECORD_FILE).read_text())[row["FileName"]]
    return read_video(out / "Videos" / f"{row['FileName']}.avi").frames, record


@pytest.mark.parametrize("with_regions", [True, False])
def test_ingest_leaves_no_readable_name_and_no_identifier_byte(
    cines: dict[bool, Path], with_regions: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tesseract()
    src = cines[with_regions].parent
    result = ingest_source(src, tmp_path / "clean")
    assert (result.rows, result.rejected) == (1, 0)
    frames, record = _output(tmp_path / "clean")
    assert len(frames) == vc.N_FRAMES and record["Sector"]["source"] == (
        "regions" if with_regions else "pixels"
    )
    reads = name_reads(_views(frames), vc.OVERLAY_WORDS)
    assert max(reads.values()) <= 1, f"overlay text is read in several frames: {reads}"
    blobs = [p.read_bytes() for p in sorted((tmp_path / "clean").rglob("*")) if p.is_file()]
    for secret in vc.SECRETS:
        assert not any(secret.encode() in blob for blob in blobs), secret

    # positive controls: the name is readable in the input (top-left corner and inside the fan), and the
    # same pipeline with the in-sector cleaning off writes frames OCR reads it from
    raw = read_dicom(cines[with_regions], "x").frames[0]
    assert reads_name(read_text(raw[:50, :120])), "OCR cannot read the corner name of the input"
    seen = name_reads([raw[:50, :120], raw[:40, 200:], raw[220:]], vc.OVERLAY_WORDS)
    assert min(seen.values()) >= 1, f"OCR cannot read every overlay word of the input: {seen}"
    monkeypatch.setattr(burned_in, "clean_sector", lambda frames, mask: (frames, 0))
    ingest_source(src, tmp_path / "raw")
    uncleaned, _ = _output(tmp_path / "raw")
    control = name_reads(_views(uncleaned))
    assert min(control.values()) >= 3, f"OCR cannot read the name even uncleaned: {control}"


def test_cleaning_keeps_the_anatomy_of_a_still_text_free_cine(tmp_path: Path) -> None:
    shares = []
    for seed in (10, 11):
        path = vc.write_vendor_cine(tmp_path / f"{seed}.dcm", vc.vendor_frames(seed, overlays=False))
        frames = read_dicom(path, "x").frames
        found = sector.locate(frames)
        shares.append(burned_in.static_pixels(frames, found.mask).sum() / found.mask.sum())
    print(f"still vendor field, in-sector pixels cleaned: {[f'{s:.2%}' for s in shares]}")
    assert max(shares) <= 0.015
    # the check can fail: a bright static block on the still field is found
    frames[:, 150:160, 120:160] = 230
    assert burned_in.static_pixels(frames, found.mask)[150:160, 120:160].mean() > 0.9


def test_a_one_beat_cine_is_quarantined_at_validate_with_its_reason(
    cines: dict[bool, Path], tmp_path: Path
) -> None:
    ingest_source(cines[True].parent, tmp_path / "ingested")
    outcome = validate_dataset(
        tmp_path / "ingested", tmp_path / "valid", tmp_path / "reports", section("validation")
    )
    assert outcome is not None
    (row,) = read_rows(tmp_path / "valid" / "quarantine.csv")
    reasons = row[QUARANTINE_COLUMN]
    assert "NumberOfFrames" in reasons and str(vc.N_FRAMES) in reasons, reasons
    assert "decod" not in reasons.lower() and "unreadable" not in reasons.lower(), reasons
    assert read_rows(tmp_path / "valid" / "FileList.csv") == []
