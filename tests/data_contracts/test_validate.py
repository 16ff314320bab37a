"""validate_dataset end to end: outputs, quarantine, the share limit, batch-level errors, EchoNet layout."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data_contracts import ContractConfig, ContractError, validate_dataset
from data_contracts.config import ECHONET_COLUMNS, PLATFORM_COLUMNS
from data_contracts.validate import QUARANTINE_COLUMN
from tests.configs import section

CONTRACT = section("validation")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def test_clean_dataset_is_accepted_whole(
    contract_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # given the clean simulated dataset, when validated
    out = validate_dataset(contract_dir, tmp_path / "out", tmp_path / "reports", CONTRACT)
    # then every row passes and FileList.csv is the input, unchanged
    assert (out.rows_in, out.accepted, out.quarantined, out.passed) == (24, 24, 0, True)
    assert out.failures == [] and out.quarantined_share == 0.0
    assert _read(out.paths["filelist"]).equals(_read(contract_dir / "FileList.csv"))
    assert len(_read(out.paths["quarantine"])) == 0
    assert list(_read(out.paths["quarantine"]).columns)[-1] == QUARANTINE_COLUMN
    assert len(pd.read_csv(out.paths["facts"])) == 24
    summary = json.loads(out.paths["summary"].read_text())
    assert (summary["accepted"], summary["quarantined"], summary["passed"]) == (24, 0, True)
    assert summary["defaults_applied"] == {} and all(e["success"] for e in summary["expectations"])
    # and the GX data docs sit under reports/, without GX's progress bars on the console
    assert out.paths["data_docs"] == (tmp_path / "reports" / "data_docs" / "index.html").resolve()
    assert out.paths["data_docs"].is_file()
    assert len(list((tmp_path / "reports" / "data_docs" / "validations").rglob("*.html"))) == 2
    assert "Calculating Metrics" not in "".join(capfd.readouterr())


def test_bad_manifest_rows_are_quarantined_with_their_expectation(
    make_variant: Callable[..., Path], contract_table: pd.DataFrame, tmp_path: Path
) -> None:
    # given a manifest with one planted fault per rule, and two unlabelled rows (allowed)
    table = contract_table
    table.loc[1, "EF"] = "101.5"
    table.loc[2, "ESV"] = table.loc[2, "EDV"]
    table.loc[3, "Split"] = "HOLDOUT"
    table.loc[5, "FileName"] = table.loc[4, "FileName"] + ".avi"  # the same video, spelt with .avi
    table.loc[[6, 7], "PatientID"], table.loc[[6, 7], "Split"] = "P-LEAK", ["TRAIN", "VAL"]
    table.loc[[8, 9], ["EF", "ESV", "EDV"]] = np.nan
    dataset = make_variant(table)
    # when validated with a quarantine limit the faults fit under
    out = validate_dataset(
        dataset, tmp_path / "out", tmp_path / "rep", section("validation", max_quarantine_share=0.5)
    )
    # then exactly the faulty rows are quarantined, each naming what it broke
    assert (out.rows_in, out.accepted, out.quarantined) == (24, 17, 7)
    assert out.rows_in == out.accepted + out.quarantined and out.passed
    assert out.quarantined_share == pytest.approx(7 / 24)
    quarantine = _read(out.paths["quarantine"]).set_index("FileName", drop=False)
    why = dict(zip(quarantine.index, quarantine[QUARANTINE_COLUMN], strict=True))
    names = contract_table["FileName"]
    assert set(why) == {names[1], names[2], names[3], names[4], names[5], names[6], names[7]}
    assert "expect_column_values_to_be_between(EF): 101.5" in why[names[1]].split(";")
    assert "expect_column_pair_values_a_to_be_greater_than_b(EDV,ESV)" in why[names[2]]
    assert why[names[3]] == "expect_column_values_to_be_in_set(Split): HOLDOUT"
    assert why[names[4]].startswith("expect_column_values_to_be_unique(FileName)")
    assert why[names[7]] == "expect_column_values_to_be_between(patient_split_count): 2"
    # and the accepted file keeps the unlabelled rows and the input's columns in order
    accepted = _read(out.paths["filelist"])
    assert list(accepted.columns) == list(contract_table.columns)
    assert {names[8], names[9]} <= set(accepted["FileName"])
    assert any("expect_column_values_to_be_in_set(Split): 1 of 24 rows" in f for f in out.failures)
    assert len(_read(out.paths["quarantine"]).columns) == len(contract_table.columns) + 1


def test_damaged_videos_are_quarantined_and_fail_the_share_limit(damaged_dir: Path, tmp_path: Path) -> None:
    # given six damaged videos among 24, when validated with the default 5 % limit
    out = validate_dataset(damaged_dir, tmp_path / "out", tmp_path / "rep", CONTRACT)
    # then the six are quarantined with their reasons and the run fails on the share
    assert (out.accepted, out.quarantined, out.passed) == (18, 6, False)
    reasons = list(_read(out.paths["quarantine"])[QUARANTINE_COLUMN])
    assert reasons[:4] == [f"expect_column_values_to_be_in_set(reason): {r}" for r in
                           ("truncated", "not_a_video", "not_a_video", "not_found")]  # fmt: skip
    assert "expect_column_values_to_be_between(contrast): 0" in reasons[5].split(";")
    assert out.failures[-1] == "quarantined 6 of 24 rows (25.0%), above the limit 5.0%"
    summary = json.loads(out.paths["summary"].read_text())
    assert (
        summary["passed"] is False
        and summary["quarantine_reasons"]["expect_column_values_to_be_in_set(reason)"] == 4
    )
    facts = pd.read_csv(out.paths["facts"])
    assert list(facts["reason"][:4]) == ["truncated", "not_a_video", "not_a_video", "not_found"]


def test_echonet_layout_validates_with_platform_defaults(
    make_variant: Callable[..., Path], contract_table: pd.DataFrame, tmp_path: Path
) -> None:
    # given a real-layout EchoNet-Dynamic manifest: the nine columns, FileName without .avi
    dataset = make_variant(contract_table[list(ECHONET_COLUMNS)].head(8))
    # when validated
    out = validate_dataset(dataset, tmp_path / "out", tmp_path / "rep", CONTRACT)
    # then it passes, the defaults are added to the output and recorded in the summary
    assert (out.rows_in, out.accepted, out.passed) == (8, 8, True)
    assert out.defaults_applied == list(PLATFORM_COLUMNS)
    accepted = _read(out.paths["filelist"])
    assert list(accepted.columns) == [*ECHONET_COLUMNS, *PLATFORM_COLUMNS]
    assert (accepted["PatientID"] == accepted["FileName"]).all() and set(accepted["View"]) == {"A4C"}
    defaults = json.loads(out.paths["summary"].read_text())["defaults_applied"]
    assert defaults["PatientID"] == "FileName" and defaults["Cohort"] == "adult"


def test_malformed_manifest_raises_before_writing(
    make_variant: Callable[..., Path], contract_table: pd.DataFrame, tmp_path: Path
) -> None:
    # given a manifest without EF
    dataset = make_variant(contract_table.drop(columns=["EF"]))
    # when validated, then one line names the column and nothing is written
    with pytest.raises(ContractError, match=r"^FileList.csv: missing required columns: EF$"):
        validate_dataset(dataset, tmp_path / "out", tmp_path / "rep", CONTRACT)
    assert not (tmp_path / "out").exists()


def test_empty_manifest_fails_at_batch_level(
    make_variant: Callable[..., Path], contract_table: pd.DataFrame, tmp_path: Path
) -> None:
    # given a manifest with its header only
    dataset = make_variant(contract_table.head(0))
    # when validated, then nothing is quarantined but the row-count expectation fails the batch
    out = validate_dataset(dataset, tmp_path / "out", tmp_path / "rep", CONTRACT)
    assert (out.rows_in, out.accepted, out.quarantined, out.passed) == (0, 0, 0, False)
    assert any(f.startswith("manifest: expect_table_row_count_to_be_between") for f in out.failures)


def test_config_rejects_unknown_keys_and_metrics() -> None:
    # given params with a typo'd key, an unknown metric or an inverted range, then each is refused
    with pytest.raises(ValueError, match="max_quarantine_shar"):
        ContractConfig.model_validate({"max_quarantine_shar": 0.1})
    with pytest.raises(ValueError, match="unknown metric 'glare'"):
        section("validation", quality_ranges={"glare": (0.0, 1.0)})
    with pytest.raises(ValueError, match=r"low 5\.0 is above high 1\.0"):
        section("validation", quality_ranges={"contrast": (5.0, 1.0)})
    # and YAML lists become the frozen tuples the suites use
    config = section("validation", views=["A4C"], quality_ranges={"contrast": [1, 2]})
    assert config.views == ("A4C",) and config.quality_ranges == {"contrast": (1.0, 2.0)}
