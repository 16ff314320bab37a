"""Burned-in text inside the scan sector: filled at ingest (OCR reads nothing, with a positive control that
reads the name when cleaning is off), BurnedInAnnotation handled by policy, the PS3.15 record written, and
anatomy left alone on text-free clips."""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np
import pydantic
import pydicom
import pytest

from ingest import burned_in, ingest_source
from ingest.deid import Pseudonymizer, blank_and_resize, sector_mask
from tests.configs import section
from tests.ingest.conftest import make_dynamic, read_rows
from tests.ocr import NAME, SIZE, near_name, read_text, reads_name, tesseract, with_name
from ultrasound.dataset import simulate_dataset
from ultrasound.dicom_io import write_dicom
from ultrasound.kinds import PERTURBATION_KINDS
from ultrasound.perturbations import perturb
from ultrasound.video_io import read_video, write_avi

TAGS = {"PatientName": "Doe^Jane", "PatientID": "MRN12345", "StudyDate": "20230115"}
SECRETS = ["Doe^Jane", "DOE JANE", "Jane", "JANE", "MRN12345", "20230115", "2023-01-15"]
ANATOMY_CLIPS = int(os.environ.get("BURNED_IN_CLIPS", "8"))  # the report's figure: BURNED_IN_CLIPS=50


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", "test-salt-not-secret-0123456789abcdef")


@pytest.fixture(scope="module")
def named_src(sim_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One DICOM with NAME burned in inside and outside the sector and BurnedInAnnotation = YES, one
    without the flag (text-free)."""
    src = tmp_path_factory.mktemp("burned") / "export"
    videos = sorted((sim_small / "Videos").glob("*.avi"))
    named = with_name(read_video(videos[0]).frames[:60])
    write_dicom(src / "Doe^Jane/named.dcm", named, 50.0, BurnedInAnnotation="YES", **TAGS)
    plain = read_video(videos[1]).frames[:60]
    write_dicom(
        src / "Doe^Jane/plain.dcm", np.stack([cv2.resize(f, (SIZE, SIZE)) for f in plain]), 50.0, **TAGS
    )
    return src


def _named_output(src: Path, out: Path) -> np.ndarray:
    """The frames ingest wrote for named.dcm (its FileName is the salted hash of its SOPInstanceUID)."""
    uid = str(pydicom.dcmread(src / "Doe^Jane/named.dcm", stop_before_pixels=True).SOPInstanceUID)
    name = Pseudonymizer(b"test-salt-not-secret-0123456789abcdef").file_name(uid)
    return read_video(out / "Videos" / f"{name}.avi").frames


def test_ocr_reads_no_name_after_ingest_and_the_name_without_cleaning(
    named_src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tesseract()
    result = ingest_source(named_src, tmp_path / "clean", burned_in="clean")
    assert (result.rows, result.rejected) == (2, 0)
    cleaned = _named_output(named_src, tmp_path / "clean")
    for view in (cleaned[0], cleaned.mean(axis=0).astype(np.uint8)):  # a frame, and the clip's mean
        text = read_text(view)
        assert not near_name(text), text
    blobs = [p.read_bytes() for p in sorted((tmp_path / "clean").rglob("*")) if p.is_file()]
    for secret in SECRETS:
        assert not any(secret.encode() in blob for blob in blobs), secret

    # positive control: the same pipeline with the pixel cleaning switched off reads the name
    monkeypatch.setattr(burned_in, "clean_sector", lambda frames, sector: (frames, 0))
    ingest_source(named_src, tmp_path / "raw", burned_in="clean")
    uncleaned = _named_output(named_src, tmp_path / "raw")
    assert reads_name(read_text(uncleaned[0])), f"OCR cannot read {NAME} even uncleaned"


def test_the_record_names_the_ps315_profile_and_the_clean_pixel_option(
    named_src: Path, tmp_path: Path
) -> None:
    ingest_source(named_src, tmp_path / "out")
    rows = read_rows(tmp_path / "out" / "FileList.csv")
    records = json.loads((tmp_path / "out" / burned_in.RECORD_FILE).read_text())
    assert sorted(records) == sorted(r["FileName"] for r in rows)
    for record in records.values():
        assert record["PatientIdentityRemoved"] == "YES" and record["BurnedInAnnotation"] == "NO"
        codes = {
            (c["CodeValue"], c["CodingSchemeDesignator"])
            for c in record["DeidentificationMethodCodeSequence"]
        }
        assert {("113100", "DCM"), ("113101", "DCM"), ("113107", "DCM")} == codes
        assert "Basic Application Level Confidentiality Profile" in record["DeidentificationMethod"]


def test_reject_policy_lists_flagged_files_and_keeps_the_rest(named_src: Path, tmp_path: Path) -> None:
    result = ingest_source(named_src, tmp_path / "out", burned_in="reject")
    assert (result.rows, result.rejected) == (1, 1)
    reasons = [r["Reason"] for r in read_rows(tmp_path / "out" / "ingest_rejects.csv")]
    assert reasons == ["burned_in_annotation"]
    assert section("ingest").burned_in == "clean"  # params.yaml's default
    with pytest.raises(pydantic.ValidationError, match="burned_in"):
        section("ingest", burned_in="blur")


def test_a_clip_too_short_to_clean_is_rejected(named_src: Path, tmp_path: Path) -> None:
    frames = read_video(named_src / "Doe^Jane/named.dcm").frames[: burned_in.MIN_FRAMES - 1]
    write_dicom(tmp_path / "short" / "short.dcm", frames, 50.0, **TAGS)
    assert ingest_source(tmp_path / "short", tmp_path / "out").rows == 0  # static text cannot be told apart
    reasons = [r["Reason"] for r in read_rows(tmp_path / "out" / "ingest_rejects.csv")]
    assert reasons == ["too_few_frames"]
    assert burned_in.deidentified_clip(frames, 112) is None  # serving keeps no clip of it either


def test_an_echonet_ingest_drops_an_earlier_dicom_record(
    named_src: Path, sim_small: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    ingest_source(named_src, out)
    assert (out / burned_in.RECORD_FILE).is_file()
    ingest_source(make_dynamic(sim_small, tmp_path / "dynamic"), out)
    assert not (out / burned_in.RECORD_FILE).exists()


def test_cleaning_changes_under_one_percent_of_the_sector_on_text_free_clips(tmp_path: Path) -> None:
    simulate_dataset(tmp_path, ANATOMY_CLIPS, seed=11, cohort="adult", workers=1)
    native, output = [], []
    videos = [read_video(v).frames for v in sorted((tmp_path / "Videos").glob("*.avi"))]
    kinds = [PERTURBATION_KINDS[i % len(PERTURBATION_KINDS)] for i in range(len(videos))]
    # half the clips degraded at high severity (an attenuated far field is dim and calm, not static)
    variants = [v if i % 2 else perturb(v, kinds[i], "high", i) for i, v in enumerate(videos)]
    for raw in variants:
        screen = np.stack([cv2.resize(f, (SIZE, SIZE)) for f in raw])
        frames = read_video(write_avi(tmp_path / "screen.avi", screen, 50.0)).frames  # MJPEG, as uploaded
        mask = sector_mask(frames)
        cleaned, n_static = burned_in.clean_sector(frames, mask)
        native.append(n_static / mask.sum())
        before, after = blank_and_resize(frames, mask), blank_and_resize(cleaned, mask)
        sector = blank_and_resize(np.full((1, *mask.shape), 255, np.uint8), mask)[0] > 0
        output.append((before != after).any(axis=0)[sector].mean())
    print(f"{len(native)} clips, in-sector pixels changed: native mean {np.mean(native):.4%} max "
          f"{max(native):.4%}; 112x112 output mean {np.mean(output):.4%} max {max(output):.4%}")  # fmt: skip
    assert max(native) <= 0.01 and max(output) <= 0.01
    # the check can fail: a static patch in the sector is found and changed
    frames[:, 100:120, 100:140] = 180
    assert burned_in.clean_sector(frames, mask)[1] >= 20 * 40
