"""EchoNet-Dynamic and EchoNet-Pediatric folders → the platform layout; idempotence of re-ingest.

These tests are about the layout, so they ingest with `already_deidentified=True` and check the names
verbatim; what a default ingest does to the names is tests/ingest/test_echonet_names.py."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from config.params import load_params
from ingest import IngestError, ingest_source
from tests.configs import section
from tests.ingest.conftest import PEDIATRIC_FOLDS, make_dynamic, make_pediatric, read_rows, tree_state
from tests.packaged import REPO
from ultrasound.dataset import FILELIST_COLUMNS


def header(path: Path) -> list[str]:
    return path.read_text().splitlines()[0].split(",")


def test_dynamic_layout_gets_platform_columns_and_defaults(sim_small: Path, tmp_path: Path) -> None:
    src = make_dynamic(sim_small, tmp_path / "EchoNet-Dynamic")
    result = ingest_source(src, tmp_path / "out", already_deidentified=True)
    assert (result.kind, result.layout, result.rows, result.rejected) == ("echonet-dynamic",) * 2 + (6, 0)
    out = tmp_path / "out"
    assert header(out / "FileList.csv") == FILELIST_COLUMNS
    rows, source = read_rows(out / "FileList.csv"), read_rows(src / "FileList.csv")
    assert [r["FileName"] for r in rows] == sorted(r["FileName"] for r in source)
    by_name = {r["FileName"]: r for r in source}
    for row in rows:
        assert row["View"] == "A4C" and row["Cohort"] == "adult" and row["Device"] == "unknown"
        assert row["PatientID"] == row["FileName"]
        assert row["StudyDate"] == dt.date.today().isoformat()
        assert {k: row[k] for k in by_name[row["FileName"]]} == by_name[row["FileName"]]  # values verbatim
        video = f"{row['FileName']}.avi"
        assert (out / "Videos" / video).read_bytes() == (src / "Videos" / video).read_bytes()
    tracings = read_rows(out / "VolumeTracings.csv")
    assert header(out / "VolumeTracings.csv") == ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
    assert len(tracings) == len(read_rows(src / "VolumeTracings.csv"))
    assert {t["FileName"] for t in tracings} == set(by_name)  # ".avi" dropped, as in FileList
    assert header(out / "ingest_rejects.csv") == ["Source", "Reason"]


def test_platform_layout_keeps_its_own_columns(sim_small: Path, tmp_path: Path) -> None:
    """A dataset already in the platform layout (14 columns) keeps its views, patients and dates."""
    ingest_source(sim_small, tmp_path / "out", already_deidentified=True)
    assert read_rows(tmp_path / "out" / "FileList.csv") == read_rows(sim_small / "FileList.csv")


def test_unusable_rows_are_rejects_not_silent_drops(sim_small: Path, tmp_path: Path) -> None:
    src = make_dynamic(sim_small, tmp_path / "src")
    gone = sorted((src / "Videos").iterdir())[0]
    gone.unlink()
    with (src / "FileList.csv").open("a") as fh:
        fh.write("../../escape,50,1,2,112,112,50,10,TRAIN\n")
    result = ingest_source(src, tmp_path / "out", already_deidentified=True)
    assert (result.rows, result.rejected) == (5, 2)
    assert read_rows(tmp_path / "out" / "ingest_rejects.csv") == [
        {"Source": "Videos/../../escape.avi", "Reason": "unsafe_filename"},
        {"Source": f"Videos/{gone.name}", "Reason": "video_missing"},
    ]
    assert gone.stem not in {t["FileName"] for t in read_rows(tmp_path / "out" / "VolumeTracings.csv")}


def test_pediatric_views_folds_and_measured_frames(sim_small: Path, tmp_path: Path) -> None:
    src = make_pediatric(sim_small, tmp_path / "EchoNet-Pediatric")
    progress: list[tuple[int, int]] = []
    result = ingest_source(
        src, tmp_path / "out", on_progress=lambda *a: progress.append(a), already_deidentified=True
    )
    assert progress == [(i, 6) for i in range(1, 7)]  # one count across both view folders
    assert (result.kind, result.rows, result.rejected) == ("echonet-pediatric", 6, 0)
    out = tmp_path / "out"
    assert header(out / "FileList.csv") == FILELIST_COLUMNS  # Sex/Age/Weight/Height dropped
    assert b"Weight" not in (out / "FileList.csv").read_bytes()
    sim_rows = read_rows(sim_small / "FileList.csv")
    expected_split = {"0": "TRAIN", "3": "TRAIN", "8": "VAL", "9": "TEST"}
    rows = {r["FileName"]: r for r in read_rows(out / "FileList.csv")}
    for index, sim in enumerate(sim_rows):
        row = rows[sim["FileName"]]
        assert row["View"] == ("A4C" if index < 3 else "PSAX")
        assert row["Split"] == expected_split[str(PEDIATRIC_FOLDS[index])]
        assert row["Cohort"] == "pediatric" and row["ESV"] == "" and row["EDV"] == ""
        measured = [row[c] for c in ("FrameHeight", "FrameWidth", "FPS", "NumberOfFrames")]
        assert measured == [sim[c] for c in ("FrameHeight", "FrameWidth", "FPS", "NumberOfFrames")]
    assert header(out / "VolumeTracings.csv") == ["FileName", "X", "Y", "Frame"]
    assert {t["FileName"] for t in read_rows(out / "VolumeTracings.csv")} == set(rows)


def test_pediatric_fold_map_is_configurable(sim_small: Path, tmp_path: Path) -> None:
    src = make_pediatric(sim_small, tmp_path / "src")
    folds = section("ingest", pediatric_folds={"TRAIN": [0, 3, 9], "VAL": [8]}).pediatric_folds
    ingest_source(src, tmp_path / "out", fold_map=folds)
    assert {r["Split"] for r in read_rows(tmp_path / "out" / "FileList.csv")} == {"TRAIN", "VAL"}
    with pytest.raises(IngestError, match="fold 9 is not in the fold map"):
        ingest_source(src, tmp_path / "out2", fold_map={"TRAIN": [0, 3], "VAL": [8]})
    with pytest.raises(ValueError, match="fold 8 is under TRAIN and VAL"):
        section("ingest", pediatric_folds={"TRAIN": [8], "VAL": [8]})
    with pytest.raises(ValueError, match="fold_map"):
        section("ingest", fold_map={})  # a mistyped key names itself
    folds = "ingest.pediatric_folds={TRAIN: [0, 1, 2, 3, 4, 5, 6], VAL: [7, 8], TEST: [9]}"
    assert load_params(REPO / "params.yaml", [folds]).ingest.ingest_kwargs()["fold_map"]["VAL"] == [7, 8]
    with pytest.raises(ValueError, match="no such parameter file"):
        load_params(tmp_path / "absent.yaml")


def test_reingest_is_idempotent_and_tracks_changes(
    sim_small: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = make_dynamic(sim_small, tmp_path / "src")
    out = tmp_path / "out"
    assert ingest_source(src, out, already_deidentified=True).changed
    before = tree_state(out)
    monkeypatch.setattr("ingest.common.today", lambda: "2099-01-01")  # a later day keeps the first date
    assert not ingest_source(src, out, already_deidentified=True).changed
    assert tree_state(out) == before  # same bytes and mtimes

    rows = read_rows(src / "FileList.csv")
    dropped = rows[0]["FileName"]
    lines = (src / "FileList.csv").read_text().splitlines()
    (src / "FileList.csv").write_text("\n".join(x for x in lines if not x.startswith(dropped)) + "\n")
    shutil.copy(src / "Videos" / f"{rows[2]['FileName']}.avi", src / "Videos" / f"{rows[1]['FileName']}.avi")
    result = ingest_source(src, out, already_deidentified=True)
    assert result.changed and result.rows == 5
    after = tree_state(out)
    assert f"Videos/{dropped}.avi" not in after  # stale video pruned
    assert after[f"Videos/{rows[1]['FileName']}.avi"] != before[f"Videos/{rows[1]['FileName']}.avi"]
    assert after[f"Videos/{rows[3]['FileName']}.avi"] == before[f"Videos/{rows[3]['FileName']}.avi"]


def test_bad_sources_raise_one_line_errors(sim_small: Path, tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file or folder"):
        ingest_source(tmp_path / "nope", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(IngestError, match="empty folder"):
        ingest_source(tmp_path / "empty", tmp_path / "out")
    with pytest.raises(IngestError, match="must not overlap"):
        ingest_source(sim_small, sim_small / "out")
    clash = make_pediatric(sim_small, tmp_path / "clash")
    shutil.copy(clash / "A4C" / "FileList.csv", clash / "PSAX" / "FileList.csv")
    with pytest.raises(IngestError, match=r"is in both A4C/ and PSAX/") as info:
        ingest_source(clash, tmp_path / "out")
    assert "\n" not in str(info.value)
