"""Per-video facts and the video suite: decodability, declared-versus-decoded, quality contract ranges."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from data_contracts.facts import FACT_COLUMNS, measure_facts, metric_names, video_path
from data_contracts.gx_run import run_suites
from data_contracts.manifest import manifest_frame
from data_contracts.videos import video_expectations, video_frame
from tests.configs import section
from ultrasound.video_io import read_video, write_avi


def test_clean_videos_match_their_manifest_and_the_quality_ranges(
    contract_dir: Path, contract_table: pd.DataFrame
) -> None:
    # given the clean simulated dataset
    # when its facts are measured in two processes
    facts = measure_facts(contract_dir, contract_table, workers=2)
    # then every video decodes to what the manifest declares and looks like an echo
    assert list(facts.columns) == [*FACT_COLUMNS, *metric_names()]
    assert len(facts) == len(contract_table) == 24
    assert facts["decodable"].all() and set(facts["reason"]) == {"ok"}
    assert (facts["frames"] == contract_table["NumberOfFrames"].astype(float)).all()
    assert (facts["height"] == contract_table["FrameHeight"].astype(float)).all()
    assert (facts["fps"] == contract_table["FPS"].astype(float)).all()
    for metric, (lo, hi) in section("validation").quality_ranges.items():
        assert facts[metric].between(lo, hi).all(), metric


def test_one_process_and_two_give_the_same_facts(contract_dir: Path, contract_table: pd.DataFrame) -> None:
    # given six videos, when measured serially and in a pool, then the facts are identical
    table = contract_table.head(6)
    pd.testing.assert_frame_equal(
        measure_facts(contract_dir, table, 1), measure_facts(contract_dir, table, 2)
    )


def test_video_path_accepts_names_with_and_without_avi(tmp_path: Path) -> None:
    # given one video stored as <name>.avi and one stored under its bare name
    (tmp_path / "a.avi").write_bytes(b"x")
    (tmp_path / "b").write_bytes(b"x")
    # then both manifest spellings resolve
    assert video_path(tmp_path, "a") == video_path(tmp_path, "a.avi") == tmp_path / "a.avi"
    assert video_path(tmp_path, "b") == tmp_path / "b"


def test_damaged_videos_get_their_reason(damaged_dir: Path, contract_table: pd.DataFrame) -> None:
    # when facts are measured on the damaged copy
    facts = measure_facts(damaged_dir, contract_table, workers=2)
    # then each damaged file names why, with NaN facts, and the rest decode
    assert list(facts["reason"][:4]) == ["truncated", "not_a_video", "not_a_video", "not_found"]
    assert facts.loc[:3, ["frames", "brightness"]].isna().all().all()
    assert "an image file" in facts.loc[2, "detail"]
    assert facts["decodable"][4:].all()


def test_video_suite_names_each_failure(
    tmp_path: Path, damaged_dir: Path, contract_table: pd.DataFrame
) -> None:
    # given the damaged dataset and a manifest that claims a wrong frame count for row 6
    table = contract_table.copy()
    table.loc[6, "NumberOfFrames"] = str(int(table.loc[6, "NumberOfFrames"]) + 3)
    config = section("validation")
    facts = measure_facts(damaged_dir, table, workers=2)
    frame = video_frame(facts, manifest_frame(table, config), config)
    # when the video suite runs through GX
    results, _ = run_suites({"videos": (frame, video_expectations(config))}, tmp_path / "docs")
    failed = {r.name: r.rows for r in results if not r.success}
    # then undecodable rows fail `reason`, grey (4) and black (5) the quality ranges, row 6 its frame count
    assert failed == {
        "expect_column_values_to_be_in_set(reason)": [0, 1, 2, 3],
        "expect_column_values_to_be_between(frames_gap)": [6],
        "expect_column_values_to_be_between(brightness)": [4, 5],
        "expect_column_values_to_be_between(contrast)": [4, 5],
        "expect_column_values_to_be_between(dynamic_range)": [4, 5],
        "expect_column_values_to_be_between(sector_coverage)": [4, 5],
    }


def test_uniform_noise_is_rejected_by_the_sector_coverage_range(tmp_path: Path) -> None:
    # given a video of uniform noise (no scan sector at all)
    path = write_avi(
        tmp_path / "noise.avi", np.random.default_rng(1).integers(0, 256, (80, 112, 112), np.uint8)
    )
    table = pd.DataFrame({"FileName": ["noise"]})
    (tmp_path / "Videos").mkdir()
    shutil.move(path, tmp_path / "Videos" / "noise.avi")
    # when measured, then it decodes but lies outside the coverage range
    facts = measure_facts(tmp_path, table, workers=1)
    lo, hi = section("validation").quality_ranges["sector_coverage"]
    assert facts.loc[0, "decodable"] and not lo <= facts.loc[0, "sector_coverage"] <= hi
    assert read_video(tmp_path / "Videos" / "noise.avi").n_frames == 80


def test_a_video_above_the_decode_budget_is_quarantined_undecoded(
    contract_dir: Path, contract_table: pd.DataFrame
) -> None:
    # given the clean dataset, whose videos are about 1 MB decoded each
    table = contract_table.head(3)
    # when measured with a budget below that, then each is refused on its header, before any frame
    facts = measure_facts(contract_dir, table, workers=1, max_decoded_mb=0.5)
    assert list(facts["reason"]) == ["too_large_decoded"] * 3
    assert not facts["decodable"].any() and facts["brightness"].isna().all()
    assert "MB decoded" in facts["detail"].iloc[0]
    # control: the configured budget (params.yaml) lets them through
    facts = measure_facts(contract_dir, table, workers=1, max_decoded_mb=section("validation").max_decoded_mb)
    assert facts["decodable"].all() and set(facts["reason"]) == {"ok"}
