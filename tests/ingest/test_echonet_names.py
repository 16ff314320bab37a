"""An EchoNet-layout export of clinical data: FileName and PatientID become salted pseudonyms in the manifest,
the tracings, the video names and the rejects (no original in any output byte or log line), and stay
verbatim for the public releases' `0X` names or when the caller says the source is already de-identified."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from ingest import IngestError, ingest_source
from ingest.deid import SALT_ENV, Pseudonymizer, pseudonym
from ingest.echonet_names import KEPT_FLAG, KEPT_FORM, NAMES_FILE, PSEUDONYMISED
from tests.ingest.conftest import (
    DYNAMIC_COLUMNS,
    PEDIATRIC_FOLDS,
    TEST_SALT,
    make_dynamic,
    make_pediatric,
    read_rows,
    rename_clips,
    write_rows,
)

SALT = TEST_SALT.encode()
CLINICAL = ["SMITH_JOHN_2024", "DOE_JANE_20230115", "ROE_RICHARD_MRN4411", "BLOGGS_FRED_1970",
            "MUSTERMANN_ERIKA_2", "ROSSI_MARIO_19811224"]  # fmt: skip
PATIENTS = ["MRN-700001", "MRN-700001", "MRN-700002", "MRN-700002", "MRN-700003", "MRN-700003"]
PUBLIC = [f"0X{0x1A2B3C4D5E6F7A00 + i:016X}" for i in range(6)]  # EchoNet's own form


def clinical_dynamic(
    sim: Path, dst: Path, names: list[str] = CLINICAL, patients: list[str] | None = PATIENTS
) -> Path:
    """An EchoNet-Dynamic folder whose clips are named `names` (and, given `patients`, a PatientID column)."""
    src = make_dynamic(sim, dst)
    rename_clips(src, dict(zip([r["FileName"] for r in read_rows(src / "FileList.csv")], names, strict=True)))
    if patients:
        rows = [{**r, "PatientID": p} for r, p in zip(read_rows(src / "FileList.csv"), patients, strict=True)]
        write_rows(src / "FileList.csv", [*DYNAMIC_COLUMNS, "PatientID"], rows)
    return src


def leaks(root: Path, secrets: list[str], *texts: str) -> list[tuple[str, str]]:
    """(secret, where) for every secret found in a file under root (any byte) or in one of `texts`."""
    blobs = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    blobs |= {f"text {i}": t.encode() for i, t in enumerate(texts)}
    return [(s, where) for s in secrets for where, blob in blobs.items() if s.encode() in blob]


def test_clinical_names_are_pseudonymised_everywhere_and_still_join(
    sim_small: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture
) -> None:
    src = clinical_dynamic(sim_small, tmp_path / "src")
    lines = (src / "FileList.csv").read_text().splitlines()
    missing = "GREEN_ALICE_NOVIDEO,50,1,2,112,112,50,10,TRAIN,MRN-700009"
    (src / "FileList.csv").write_text("\n".join([*lines, missing, lines[1]]) + "\n")  # + a duplicate row
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out"
    result = ingest_source(src, out, on_progress=lambda *a: print("progress", *a))
    assert (result.rows, result.rejected, result.names) == (6, 2, PSEUDONYMISED)

    original = {pseudonym("echonet", name, SALT): name for name in CLINICAL}
    rows = {r["FileName"]: r for r in read_rows(out / "FileList.csv")}
    assert set(rows) == set(original)
    patient_of = dict(zip(CLINICAL, PATIENTS, strict=True))
    for name, row in rows.items():
        assert row["PatientID"] == pseudonym("patient", f"id:{patient_of[original[name]]}", SALT)
    source_split = {r["FileName"]: r["Split"] for r in read_rows(src / "FileList.csv")}
    assert all(row["Split"] == source_split[original[name]] for name, row in rows.items())  # kept as is
    assert len({r["PatientID"] for r in rows.values()}) == 3  # two clips per patient, one pseudonym each

    assert sorted(p.name for p in (out / "Videos").iterdir()) == sorted(f"{n}.avi" for n in rows)
    for name, source_name in original.items():  # byte-identical copies under the new name
        assert (out / "Videos" / f"{name}.avi").read_bytes() == (
            src / "Videos" / f"{source_name}.avi"
        ).read_bytes()
    source_tracings = read_rows(src / "VolumeTracings.csv")
    tracings = read_rows(out / "VolumeTracings.csv")
    assert len(tracings) == len(source_tracings) and {t["FileName"] for t in tracings} == set(rows)
    for name, source_name in original.items():  # each video keeps exactly its own tracings
        ours = [{k: v for k, v in t.items() if k != "FileName"} for t in tracings if t["FileName"] == name]
        theirs = [{k: v for k, v in t.items() if k != "FileName"} for t in source_tracings
                  if t["FileName"] == f"{source_name}.avi"]  # fmt: skip
        assert ours == theirs

    pseudo = Pseudonymizer(SALT)
    assert sorted(tuple(r.values()) for r in read_rows(out / "ingest_rejects.csv")) == sorted([
        (pseudo.source("Videos/GREEN_ALICE_NOVIDEO.avi"), "video_missing"),
        (pseudo.source("Videos/SMITH_JOHN_2024.avi"), "duplicate_filename"),
    ])  # fmt: skip
    assert json.loads((out / NAMES_FILE).read_text())["file_names"] == PSEUDONYMISED
    captured = capfd.readouterr()
    secrets = [*CLINICAL, *PATIENTS, "GREEN_ALICE_NOVIDEO", "MRN-700009"]
    assert not leaks(out, secrets, caplog.text, captured.out, captured.err)


def test_the_salt_decides_the_names(sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = clinical_dynamic(sim_small, tmp_path / "src", patients=None)
    assert ingest_source(src, tmp_path / "a").changed
    ingest_source(src, tmp_path / "b")
    manifest = (tmp_path / "a" / "FileList.csv").read_bytes()
    assert manifest == (tmp_path / "b" / "FileList.csv").read_bytes()  # same salt, same names
    assert not ingest_source(src, tmp_path / "a").changed  # a pseudonymised re-ingest is idempotent too
    rows = read_rows(tmp_path / "a" / "FileList.csv")
    assert all(r["PatientID"] == r["FileName"] for r in rows)  # no PatientID column: the FileName pseudonym

    monkeypatch.setenv(SALT_ENV, "another-salt-not-secret-0123456789abcdef")
    ingest_source(src, tmp_path / "c")
    other = {r["FileName"] for r in read_rows(tmp_path / "c" / "FileList.csv")}
    assert len(other) == 6 and not other & {r["FileName"] for r in rows}
    assert not leaks(tmp_path / "c", CLINICAL)


def test_public_echonet_names_are_kept_and_need_no_salt(
    sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = clinical_dynamic(sim_small, tmp_path / "src", names=PUBLIC, patients=None)
    monkeypatch.delenv(SALT_ENV)
    salt_file = tmp_path / "secrets" / "deid_salt"
    result = ingest_source(src, tmp_path / "out", salt_file=salt_file)
    assert (result.rows, result.names) == (6, KEPT_FORM)
    rows = read_rows(tmp_path / "out" / "FileList.csv")
    assert [r["FileName"] for r in rows] == PUBLIC and all(r["PatientID"] == r["FileName"] for r in rows)
    assert {t["FileName"] for t in read_rows(tmp_path / "out" / "VolumeTracings.csv")} == set(PUBLIC)
    assert json.loads((tmp_path / "out" / NAMES_FILE).read_text()) == {"file_names": KEPT_FORM}
    assert not salt_file.exists()  # a public release is ingested without minting a secret


def test_one_clinical_name_among_echonet_names_pseudonymises_them_all(
    sim_small: Path, tmp_path: Path
) -> None:
    names = [*PUBLIC[:5], "SMITH_JOHN_2024"]
    src = clinical_dynamic(sim_small, tmp_path / "src", names=names, patients=None)
    assert ingest_source(src, tmp_path / "out").names == PSEUDONYMISED
    rows = read_rows(tmp_path / "out" / "FileList.csv")
    assert {r["FileName"] for r in rows} == {pseudonym("echonet", n, SALT) for n in names}
    assert not leaks(tmp_path / "out", names)


def test_the_flag_keeps_clinical_names(sim_small: Path, tmp_path: Path) -> None:
    src = clinical_dynamic(sim_small, tmp_path / "src")
    (src / "Videos" / "SMITH_JOHN_2024.avi").unlink()
    result = ingest_source(src, tmp_path / "out", already_deidentified=True)
    assert (result.rows, result.rejected, result.names) == (5, 1, KEPT_FLAG)
    rows = read_rows(tmp_path / "out" / "FileList.csv")
    kept = sorted((n, p) for n, p in zip(CLINICAL, PATIENTS, strict=True) if n != "SMITH_JOHN_2024")
    assert [(r["FileName"], r["PatientID"]) for r in rows] == kept
    assert read_rows(tmp_path / "out" / "ingest_rejects.csv") == [
        {"Source": "Videos/SMITH_JOHN_2024.avi", "Reason": "video_missing"}
    ]
    assert json.loads((tmp_path / "out" / NAMES_FILE).read_text()) == {"file_names": KEPT_FLAG}


def test_pediatric_view_folders_decide_together(sim_small: Path, tmp_path: Path) -> None:
    src = make_pediatric(sim_small, tmp_path / "src")
    sim_names = [r["FileName"] for r in read_rows(sim_small / "FileList.csv")]
    rename_clips(src, dict(zip(sim_names, PUBLIC, strict=True)))
    assert ingest_source(src, tmp_path / "public").names == KEPT_FORM
    assert {r["FileName"] for r in read_rows(tmp_path / "public" / "FileList.csv")} == set(PUBLIC)

    rename_clips(src, {PUBLIC[5]: "SMITH_JOHN_2024"})  # one clinical name, in the PSAX folder
    names = [*PUBLIC[:5], "SMITH_JOHN_2024"]
    out = tmp_path / "out"
    assert ingest_source(src, out).names == PSEUDONYMISED
    rows = {r["FileName"]: r for r in read_rows(out / "FileList.csv")}
    folds = {"0": "TRAIN", "3": "TRAIN", "8": "VAL", "9": "TEST"}
    for index, name in enumerate(names):  # the A4C folder's 0X names too; the source's Split is kept
        row = rows[pseudonym("echonet", name, SALT)]
        assert row["View"] == ("A4C" if index < 3 else "PSAX")
        assert row["Split"] == folds[str(PEDIATRIC_FOLDS[index])]
    assert {t["FileName"] for t in read_rows(out / "VolumeTracings.csv")} == set(rows)
    assert not leaks(out, names)

    rename_clips(src / "A4C", {PUBLIC[0]: "DOE_JANE_2023"})
    shutil.copy(src / "A4C" / "FileList.csv", src / "PSAX" / "FileList.csv")  # all three A4C names clash
    with pytest.raises(IngestError, match="is in both A4C/ and PSAX/") as info:
        ingest_source(src, tmp_path / "clash")
    message = str(info.value)
    assert pseudonym("echonet", min("DOE_JANE_2023", *PUBLIC[1:3]), SALT) in message
    assert not [name for name in ("DOE_JANE_2023", *PUBLIC[1:3]) if name in message]
