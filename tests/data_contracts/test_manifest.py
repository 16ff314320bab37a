"""The manifest contract: loading (batch-level errors), derived rule columns, and the GX manifest suite."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_contracts.config import ECHONET_COLUMNS, ContractError
from data_contracts.gx_run import run_suites
from data_contracts.manifest import load_manifest, manifest_expectations, manifest_frame
from tests.configs import section

CONTRACT = section("validation")


def _write(tmp_path: Path, table: pd.DataFrame) -> Path:
    table.to_csv(tmp_path / "FileList.csv", index=False)
    return tmp_path


def test_missing_ef_column_is_a_one_line_contract_error(tmp_path: Path, contract_table: pd.DataFrame) -> None:
    # given a manifest without EF and Split
    _write(tmp_path, contract_table.drop(columns=["EF", "Split"]))
    # when it is loaded, then the error names both columns on one line
    with pytest.raises(ContractError) as err:
        load_manifest(tmp_path)
    assert str(err.value) == "FileList.csv: missing required columns: EF, Split"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "FileList.csv: not found"),
        (b"", "FileList.csv: not a readable CSV"),
        (b'FileName,EF\n"a,1\n', "FileList.csv: not a readable CSV"),
        (b"\xff\xfe\x00\x81\x00\x00", "FileList.csv: not a readable CSV"),
    ],
)
def test_absent_or_unreadable_manifest_raises(tmp_path: Path, content: bytes | None, expected: str) -> None:
    # given a dataset folder without a manifest, or with garbage in it
    if content is not None:
        (tmp_path / "FileList.csv").write_bytes(content)
    # when it is loaded, then a single line says what is wrong
    with pytest.raises(ContractError) as err:
        load_manifest(tmp_path)
    assert str(err.value).startswith(expected)
    assert "\n" not in str(err.value)


def test_a_non_numeric_ef_column_is_a_contract_error(tmp_path: Path, contract_table: pd.DataFrame) -> None:
    # given an EF column holding words in every labelled row
    contract_table["EF"] = "normal"
    _write(tmp_path, contract_table)
    # then loading refuses it, naming the column
    with pytest.raises(ContractError, match=r"column EF is not numeric"):
        load_manifest(tmp_path)


def test_echonet_layout_gets_platform_defaults(tmp_path: Path, contract_table: pd.DataFrame) -> None:
    # given only the nine EchoNet-Dynamic columns
    _write(tmp_path, contract_table[list(ECHONET_COLUMNS)])
    # when loaded
    raw, added = load_manifest(tmp_path, today=dt.date(2024, 5, 1))
    # then the five platform columns are appended with the Interfaces defaults
    assert added == ["View", "PatientID", "Cohort", "Device", "StudyDate"]
    assert list(raw.columns) == [*ECHONET_COLUMNS, *added]
    assert (raw["View"] == "A4C").all() and (raw["Cohort"] == "adult").all()
    assert (raw["PatientID"] == raw["FileName"]).all()
    assert set(raw["Device"]) == {"unknown"} and set(raw["StudyDate"]) == {"2024-05-01"}


def test_derived_columns(contract_table: pd.DataFrame) -> None:
    # given four rows: consistent labels, unlabelled, half-labelled, an unparseable EF
    rows = contract_table.head(4).copy()
    rows.loc[0, ["EF", "ESV", "EDV", "FileName"]] = ["60", "40", "100", "a.avi"]
    rows.loc[1, ["EF", "ESV", "EDV"]] = [np.nan, np.nan, np.nan]
    rows.loc[2, ["EF", "ESV"]] = [np.nan, np.nan]
    rows.loc[3, "EF"] = "n/a"
    rows["PatientID"] = ["p1", "p1", "p2", "p3"]
    rows["Split"] = ["TRAIN", "TEST", "VAL", "VAL"]
    # when the rule columns are derived
    frame = manifest_frame(rows.reset_index(drop=True), section("validation"))
    # then each rule is one column
    assert frame.loc[0, "ef_volume_gap"] == pytest.approx(0.0)
    assert frame.loc[0, "FileName"] == "a"
    assert list(frame["label_state"]) == ["complete", "absent", "partial", "partial"]
    assert list(frame["unparseable"].fillna("")) == ["", "", "", "EF=n/a"]
    assert list(frame["patient_split_count"]) == [2.0, 2.0, 1.0, 1.0]


def test_manifest_suite_quarantines_exactly_the_bad_rows(
    tmp_path: Path, contract_table: pd.DataFrame
) -> None:
    # given a clean manifest with one fault planted per rule
    table = contract_table.copy()
    edv = pd.to_numeric(table["EDV"])
    table.loc[1, "EF"] = "130"  # out of [0, 100] and off its volumes
    table.loc[2, "ESV"] = str(edv[2] + 5)  # ESV >= EDV
    table.loc[3, "Split"] = "HOLDOUT"
    table.loc[5, "FileName"] = table.loc[4, "FileName"]  # duplicate
    table.loc[6, "View"] = "A3C"
    table.loc[7, "NumberOfFrames"] = "40"
    table.loc[8, "Cohort"] = "neonatal"
    table.loc[9, "FPS"] = "0"
    table.loc[10, ["EF", "ESV", "EDV"]] = ["", " ", np.nan]  # unlabelled: allowed
    # when the suite runs through GX
    frame = manifest_frame(table, section("validation"))
    results, index = run_suites({"manifest": (frame, manifest_expectations(section("validation")))}, tmp_path)
    failed = {r.name: r.rows for r in results if not r.success}
    # then every failing expectation names exactly its rows, and the docs were built
    assert failed == {
        "expect_column_values_to_be_between(EF)": [1],
        "expect_column_values_to_be_between(ef_volume_gap)": [1, 2],
        "expect_column_pair_values_a_to_be_greater_than_b(EDV,ESV)": [2],
        "expect_column_values_to_be_in_set(Split)": [3],
        "expect_column_values_to_be_unique(FileName)": [4, 5],
        "expect_column_values_to_be_in_set(View)": [6],
        "expect_column_values_to_be_between(NumberOfFrames)": [7],
        "expect_column_values_to_be_in_set(Cohort)": [8],
        "expect_column_values_to_be_between(FPS)": [9],
    }
    assert all(r.row_level for r in results if not r.success)
    assert index.is_file()


def test_patient_in_two_splits_fails_every_study_of_that_patient(
    tmp_path: Path, contract_table: pd.DataFrame
) -> None:
    # given two studies of one patient, one in TRAIN and one in TEST
    table = contract_table.head(6).copy()
    table.loc[[0, 3], "PatientID"] = "P-LEAK"
    table.loc[0, "Split"], table.loc[3, "Split"] = "TRAIN", "TEST"
    # when the suite runs
    results, _ = run_suites(
        {"manifest": (manifest_frame(table, CONTRACT), manifest_expectations(CONTRACT))},
        tmp_path,
    )
    failed = {r.name: r.rows for r in results if not r.success}
    # then both studies are named, nothing else
    assert failed == {"expect_column_values_to_be_between(patient_split_count)": [0, 3]}
