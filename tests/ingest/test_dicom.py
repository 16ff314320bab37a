"""Clinical DICOM → de-identified clips: no identifier in any output byte or log line, burned-in text
blanked, patient-level pseudonyms, unusable files listed with reasons."""

from __future__ import annotations

import logging
import os
import re
import stat
from datetime import date
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from ingest import ingest_source
from ingest.deid import Pseudonymizer, device_name, view_hint
from tests.ingest.conftest import read_rows, tree_state
from ultrasound.dicom_io import write_dicom
from ultrasound.video_io import read_video

FRAMES = 60
CANVAS = (300, 400)  # a scanner screen: the 224×224 image sits at rows 40:264, columns 88:312
TOP, LEFT, SIZE = 40, 88, 224
PATIENT_A = {
    "PatientName": "Doe^Jane", "PatientID": "MRN12345", "PatientBirthDate": "19700101",
    "AccessionNumber": "ACC777123", "InstitutionName": "St Elsewhere Hospital",
    "ReferringPhysicianName": "House^Gregory", "Manufacturer": "GE Vingmed",
    "ManufacturerModelName": "Vivid E95",
}  # fmt: skip
PATIENT_B = {
    **PATIENT_A,
    "PatientName": "Roe^Richard",
    "PatientID": "MRN99999",
    "PatientBirthDate": "19811224",
}
SECRETS = [
    "Doe^Jane", "Jane", "MRN12345", "19700101", "1970-01-01", "ACC777123", "Elsewhere", "House^Gregory",
    "Gregory", "Roe^Richard", "Richard", "MRN99999", "19811224", "20230115", "2023-01-15", "20230301",
    "2023-03-01", "20220610", "2022-06-10",
]  # fmt: skip


def screen(video: np.ndarray, name: str, mrn: str) -> np.ndarray:
    """The clip as a scanner exports it: enlarged on a bigger screen, name and MRN burned in outside the fan
    (the MRN inside the fan's bounding box, in its empty top-left corner)."""
    out = np.zeros((len(video), *CANVAS), np.uint8)
    out[:, TOP : TOP + SIZE, LEFT : LEFT + SIZE] = [cv2.resize(f, (SIZE, SIZE)) for f in video]
    for frame in out:
        cv2.putText(frame, name, (5, 25), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 255, 2)
        cv2.putText(frame, mrn, (LEFT + 4, TOP + 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1)
    return out


@pytest.fixture(scope="module")
def dicom_src(sim_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three clips of two patients (folders named after them), plus three unusable files."""
    src = tmp_path_factory.mktemp("dicom") / "export"
    videos = sorted((sim_small / "Videos").glob("*.avi"))[:3]
    clips = [read_video(v).frames[:FRAMES] for v in videos]
    a, b = PATIENT_A, PATIENT_B
    write_dicom(src / "Doe^Jane/s1/clip1.dcm", screen(clips[0], a["PatientName"], a["PatientID"]), 50.0,
                StudyDate="20230115", SeriesDescription="Apical 4CH", **a)  # fmt: skip
    write_dicom(src / "Doe^Jane/s2/clip2.dcm", screen(clips[1], a["PatientName"], a["PatientID"]), 50.0,
                StudyDate="20230301", **a)  # fmt: skip
    write_dicom(src / "Roe^Richard/clip3.dcm", screen(clips[2], b["PatientName"], b["PatientID"]), 30.0,
                StudyDate="20220610", SeriesDescription="PSAX mid", **b)  # fmt: skip
    (src / "Doe^Jane/notes.txt").write_text("Doe^Jane MRN12345 called on 2023-01-15")
    write_dicom(src / "Doe^Jane/still.dcm", clips[0][:1], 50.0, StudyDate="20230115", **a)
    nopix = write_dicom(src / "Doe^Jane/nopixels.dcm", clips[0][:2], 50.0, StudyDate="20230115", **a)
    ds = pydicom.dcmread(nopix)
    del ds.PixelData
    ds.save_as(nopix)
    return src


def uids(src: Path) -> list[str]:
    found = []
    for path in src.rglob("*.dcm"):
        ds = pydicom.dcmread(path, stop_before_pixels=True)
        found += [str(ds.SOPInstanceUID), str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID)]
    return found


@pytest.fixture(autouse=True)
def _salt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHOJEPA_DEID_SALT", "test-salt-not-secret-0123456789abcdef")


def test_no_identifier_reaches_any_output(
    dicom_src: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = ingest_source(dicom_src, tmp_path / "out", on_progress=lambda *a: print("progress", *a))
    assert (result.kind, result.rows, result.rejected) == ("dicom", 3, 3)
    captured = capfd.readouterr()
    texts = [caplog.text.encode(), captured.out.encode(), captured.err.encode()]
    texts += [p.read_bytes() for p in sorted((tmp_path / "out").rglob("*")) if p.is_file()]
    for secret in [*SECRETS, *uids(dicom_src)]:
        assert not any(secret.encode() in blob for blob in texts), secret
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "FileList.csv",
        "Videos",
        "deidentification.json",
        "ingest_rejects.csv",
    ]


def test_manifest_rows_are_pseudonymous_and_grouped_by_patient(dicom_src: Path, tmp_path: Path) -> None:
    ingest_source(dicom_src, tmp_path / "out")
    rows = read_rows(tmp_path / "out" / "FileList.csv")
    assert all(re.fullmatch(r"dcm_[0-9a-f]{16}", r["FileName"]) for r in rows)
    assert all(r["EF"] == r["ESV"] == r["EDV"] == "" and r["Cohort"] == "adult" for r in rows)
    assert all((r["FrameHeight"], r["FrameWidth"], r["NumberOfFrames"]) == ("112", "112", "60") for r in rows)
    assert {r["Device"] for r in rows} == {"GE Vingmed Vivid E95"}
    by_view = {}
    for r in rows:
        by_view.setdefault(r["View"], []).append(r)
    assert sorted((v, len(rs)) for v, rs in by_view.items()) == [("A4C", 2), ("PSAX", 1)]
    patient_a, patient_b = by_view["A4C"], by_view["PSAX"][0]
    assert patient_a[0]["PatientID"] == patient_a[1]["PatientID"] != patient_b["PatientID"]
    assert patient_a[0]["Split"] == patient_a[1]["Split"]
    assert patient_b["FPS"] == "30"
    dates = sorted(date.fromisoformat(r["StudyDate"]) for r in patient_a)
    assert (dates[1] - dates[0]).days == (date(2023, 3, 1) - date(2023, 1, 15)).days  # interval kept
    assert 30 <= (date(2023, 1, 15) - dates[0]).days <= 395


def test_burned_in_text_outside_the_sector_is_blanked(dicom_src: Path, tmp_path: Path) -> None:
    ingest_source(dicom_src, tmp_path / "out")
    raw = read_video(dicom_src / "Doe^Jane/s1/clip1.dcm").frames
    naive = cv2.resize(raw[0, TOP : TOP + SIZE, LEFT : LEFT + SIZE], (112, 112), interpolation=cv2.INTER_AREA)
    assert naive[:14, :40].max() > 100  # without blanking, the MRN would be right there
    for video in sorted((tmp_path / "out" / "Videos").glob("*.avi")):
        frames = read_video(video).frames
        assert frames.shape[1:] == (112, 112)
        assert frames[:, :14, :40].max() <= 3  # top-left corner: the burned-in MRN is gone
        assert 0.35 < (frames.max(axis=0) > 10).mean() < 0.9  # the sector itself is kept


def test_unusable_files_are_listed_with_hashed_paths(dicom_src: Path, tmp_path: Path) -> None:
    ingest_source(dicom_src, tmp_path / "out")
    rejects = read_rows(tmp_path / "out" / "ingest_rejects.csv")
    assert sorted(r["Reason"] for r in rejects) == ["no_pixel_data", "not_dicom", "single_frame"]
    pseudo = Pseudonymizer(b"test-salt-not-secret-0123456789abcdef")
    expected = {
        pseudo.source(p) for p in ("Doe^Jane/notes.txt", "Doe^Jane/still.dcm", "Doe^Jane/nopixels.dcm")
    }
    assert {r["Source"] for r in rejects} == expected  # re-computable by whoever holds the salt


def test_salt_file_is_created_private_and_reingest_is_idempotent(
    dicom_src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHOJEPA_DEID_SALT")
    salt_file = tmp_path / ".secrets" / "deid_salt"
    out = tmp_path / "out"
    first = ingest_source(dicom_src, out, salt_file=salt_file)
    assert first.changed and stat.S_IMODE(os.stat(salt_file).st_mode) == 0o600
    assert (salt_file.parent / ".gitignore").read_text() == "*\n"
    before = tree_state(out)
    assert not ingest_source(dicom_src, out, salt_file=salt_file).changed
    assert tree_state(out) == before
    monkeypatch.setenv(
        "ECHOJEPA_DEID_SALT", "another-salt-not-secret-0123456789abcdef"
    )  # another salt, other pseudonyms
    assert ingest_source(dicom_src, out, salt_file=salt_file).changed
    assert not set(before) & {p for p in tree_state(out) if p.startswith("Videos/")}


def test_view_hints_and_device_names_come_from_a_fixed_vocabulary() -> None:
    assert view_hint("Apical 4CH") == "A4C"
    assert view_hint("AP2 LV", "") == "A2C"
    assert view_hint("PSAX mid papillary") == "PSAX"
    assert view_hint("Doe^Jane follow-up") is None
    assert view_hint("A4C then PLAX") is None  # ambiguous: no hint
    assert device_name("Philips", "EPIQ 7C <Dr. X>") == "Philips EPIQ 7C Dr. X"
    assert device_name("", "") == "unknown"
