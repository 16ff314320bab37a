"""The simulated folder is what EchoNet-Dynamic's reference loader expects, and its labels are consistent."""

from __future__ import annotations

import collections
import filecmp
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ultrasound.cardiac import disc_volume
from ultrasound.dataset import FILELIST_COLUMNS, plan_studies, simulate_dataset
from ultrasound.realism import chords_by_frame

ECHONET_COLUMNS = [
    "FileName",
    "EF",
    "ESV",
    "EDV",
    "FrameHeight",
    "FrameWidth",
    "FPS",
    "NumberOfFrames",
    "Split",
]


def test_filelist_has_echonet_columns_first_then_ours(filelist: pd.DataFrame) -> None:
    assert list(filelist.columns[:9]) == ECHONET_COLUMNS
    assert list(filelist.columns) == FILELIST_COLUMNS
    assert not filelist.FileName.str.endswith(".avi").any()
    assert set(filelist.Split) == {"TRAIN", "VAL", "TEST"}
    assert (filelist.FPS == 50).all()


def test_every_video_reads_with_opencv_at_declared_frames(sim_dir: Path, filelist: pd.DataFrame) -> None:
    for row in filelist.iloc[::6].itertuples():  # 40 of the videos keep this quick
        capture = cv2.VideoCapture(str(sim_dir / "Videos" / f"{row.FileName}.avi"))
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
        capture.release()
        assert len(frames) == row.NumberOfFrames
        assert frames[0].shape == (112, 112, 3)
        assert (row.FrameHeight, row.FrameWidth) == (112, 112)


def test_ef_is_consistent_with_volumes(filelist: pd.DataFrame) -> None:
    ef = 100 * (filelist.EDV - filelist.ESV) / filelist.EDV
    assert np.abs(ef - filelist.EF).max() < 0.1
    assert (filelist.ESV < filelist.EDV).all()


def test_tracings_reproduce_ef_by_method_of_discs(filelist: pd.DataFrame, tracings: pd.DataFrame) -> None:
    # the reference loader keeps only files with at least two traced frames
    frames = collections.defaultdict(list)
    for name, frame in zip(tracings.FileName, tracings.Frame, strict=True):
        if frame not in frames[name]:
            frames[name].append(frame)
    assert all(len(frames[name]) >= 2 for name in filelist.FileName)
    by_file = dict(list(tracings.groupby("FileName")))
    for row in filelist.itertuples():
        rows = by_file[row.FileName]
        volumes = [disc_volume(chords) for chords in chords_by_frame(rows).values()]
        assert len(volumes) == 2
        assert 100 * (1 - min(volumes) / max(volumes)) == pytest.approx(row.EF, abs=0.1)
        assert len(rows) == 42  # a long axis and 20 chords at ED and at ES
        assert rows[["X1", "X2"]].to_numpy().min() > -60 and rows[["Y1", "Y2"]].to_numpy().max() < 172


def test_label_distribution_and_factors(filelist: pd.DataFrame, factors: pd.DataFrame) -> None:
    assert filelist.EF.min() < 20 and filelist.EF.max() > 70
    assert (filelist.EF < 40).mean() > 0.08  # reduced EF is represented
    assert filelist.View.nunique() >= 5
    assert set(filelist.Cohort) == {"adult", "pediatric"}
    assert filelist.Device.nunique() >= 4
    merged = filelist.merge(factors, on="FileName")
    ped = merged[merged.Cohort == "pediatric"]
    adult = merged[merged.Cohort == "adult"]
    assert ped.HeartRate.between(80, 160).all() and adult.HeartRate.between(50, 110).all()
    assert ped.EDV.median() < 0.6 * adult.EDV.median()  # smaller hearts
    # several beats per clip: at 50 fps a beat lasts 60·50/HR frames
    beats = merged.NumberOfFrames / (3000 / merged.HeartRate)
    assert beats.min() > 2


def test_splits_are_patient_level(filelist: pd.DataFrame) -> None:
    per_patient = filelist.groupby("PatientID").Split.nunique()
    assert (per_patient == 1).all()
    assert (filelist.PatientID.value_counts() > 1).any()  # several studies per patient occur


def test_same_seed_same_dataset_whatever_the_workers(tmp_path: Path) -> None:
    a = simulate_dataset(tmp_path / "a", 6, seed=5, workers=1).parent
    b = simulate_dataset(tmp_path / "b", 6, seed=5, workers=2).parent
    for name in ("FileList.csv", "VolumeTracings.csv"):
        assert filecmp.cmp(a / name, b / name, shallow=False)
    for video in (a / "Videos").iterdir():
        assert filecmp.cmp(video, b / "Videos" / video.name, shallow=False)
    c = plan_studies(6, seed=6)
    assert [s.ef_target for s, _, _ in c] != [s.ef_target for s, _, _ in plan_studies(6, seed=5)]


@pytest.mark.parametrize(
    ("kwargs", "message"), [({"cohort": "elderly"}, "cohort"), ({"n_videos": 0}, "n-videos")]
)
def test_bad_arguments_name_the_problem(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"out_dir": tmp_path, "n_videos": 2, "seed": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        simulate_dataset(**args)
