"""One pseudonym function for every path that keys on a study: ingest.deid.pseudonym gives the values DICOM
ingest always gave, EchoNet-layout ingest's patients and serving's study ids, so they all join."""

from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest

from ingest import ingest_source
from ingest.deid import Pseudonymizer, pseudonym
from serving.errors import BadInput
from serving.records import RecordMaker
from tests.ingest.conftest import TEST_SALT, read_rows
from tests.ingest.test_dicom import PATIENT_A, PATIENT_B, dicom_src  # noqa: F401  (fixture)
from tests.ingest.test_echonet_names import CLINICAL, clinical_dynamic

SALT = TEST_SALT.encode()
# values computed before pseudonym() existed (Pseudonymizer's own HMAC): a change here renames every clip
# already ingested and unjoins every production-log row from its label
GOLDEN = {
    ("sop", "1.2.840.113619.2.1"): "dcm_441533ab796f1e66",
    ("patient", "id:MRN-12345"): "pt_ac91969efb193904",
    ("path", "studies/IM0001.dcm"): "ea757115b1f1b7b2",
}
STUDY_ID = "1.2.840.113619.2.55.3.604688119.969.1268071029.320"


def test_the_existing_kinds_keep_the_values_already_ingested() -> None:
    for (kind, value), expected in GOLDEN.items():
        assert pseudonym(kind, value, SALT) == expected
    pseudo = Pseudonymizer(SALT)  # the wrappers are that function
    assert pseudo.file_name("1.2.840.113619.2.1") == GOLDEN["sop", "1.2.840.113619.2.1"]
    assert pseudo.patient("id:MRN-12345") == GOLDEN["patient", "id:MRN-12345"]
    assert pseudo.source("studies/IM0001.dcm") == GOLDEN["path", "studies/IM0001.dcm"]
    assert pseudo.study_date("20230115", "id:MRN-12345") == "2022-10-08"  # the date shift is unchanged too
    assert re.fullmatch(r"en_[0-9a-f]{16}", pseudo.echonet_name("SMITH_JOHN_2024"))
    assert pseudo.echonet_name("SMITH_JOHN_2024") == pseudonym("echonet", "SMITH_JOHN_2024", SALT)
    kinds = {pseudonym(kind, "X", SALT)[-16:] for kind in ("sop", "patient", "echonet", "path")}
    assert len(kinds) == 4  # the kind is keyed in: one value, unrelated pseudonyms
    assert pseudonym("sop", "X", SALT) != pseudonym("sop", "X", SALT.upper())
    with pytest.raises(ValueError, match="unknown pseudonym kind 'study'"):
        pseudonym("study", "X", SALT)


def test_dicom_and_echonet_ingest_share_the_function(
    dicom_src: Path,  # noqa: F811
    sim_small: Path,
    tmp_path: Path,
) -> None:
    ingest_source(dicom_src, tmp_path / "dicom")
    dicom = read_rows(tmp_path / "dicom" / "FileList.csv")
    uids = [
        str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in dicom_src.rglob("clip*.dcm")
    ]
    assert {r["FileName"] for r in dicom} == {pseudonym("sop", uid, SALT) for uid in uids}
    mrns = (PATIENT_A["PatientID"], PATIENT_B["PatientID"])
    assert {r["PatientID"] for r in dicom} == {pseudonym("patient", f"id:{mrn}", SALT) for mrn in mrns}
    rejected = ("Doe^Jane/notes.txt", "Doe^Jane/still.dcm", "Doe^Jane/nopixels.dcm")
    sources = {r["Source"] for r in read_rows(tmp_path / "dicom" / "ingest_rejects.csv")}
    assert sources == {pseudonym("path", p, SALT) for p in rejected}

    # the same patient exported in EchoNet's layout gets the DICOM ingest's patient pseudonym
    src = clinical_dynamic(sim_small, tmp_path / "src", patients=[mrns[0]] * 3 + [mrns[1]] * 3)
    ingest_source(src, tmp_path / "echonet")
    echonet = read_rows(tmp_path / "echonet" / "FileList.csv")
    assert {r["PatientID"] for r in echonet} == {r["PatientID"] for r in dicom}
    assert {r["FileName"] for r in echonet} == {pseudonym("echonet", n, SALT) for n in CLINICAL}


def test_serving_stores_a_study_id_as_the_shared_pseudonym() -> None:
    maker = RecordMaker(SALT)
    assert (
        maker.pseudonym(STUDY_ID)
        == pseudonym("sop", STUDY_ID, SALT)
        == Pseudonymizer(SALT).file_name(STUDY_ID)
    )
    assert maker.pseudonym("") == ""
    with pytest.raises(BadInput, match="no de-identification salt"):
        RecordMaker(None).pseudonym(STUDY_ID)
