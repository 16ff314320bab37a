"""The demo's traffic: which videos are sent (held-out TEST studies only) and the degraded copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from demo.traffic import DEGRADATION, degrade, held_out_videos
from ultrasound.echonet import file_list
from ultrasound.video_io import read_video


def test_only_test_studies_are_sent(held_out_dataset: Path) -> None:
    names = pd.read_csv(file_list(held_out_dataset)).FileName.tolist()
    videos = held_out_videos(held_out_dataset, 10)
    assert [v.stem for v in videos] == names[1:]  # the TRAIN study never reaches the service
    assert all(v.is_file() for v in videos)
    assert [v.stem for v in held_out_videos(held_out_dataset, 1)] == names[1:2]


def test_no_test_studies_is_a_clear_error(held_out_dataset: Path, tmp_path: Path) -> None:
    table = pd.read_csv(file_list(held_out_dataset)).assign(Split="TRAIN")
    table.to_csv(file_list(tmp_path), index=False)
    with pytest.raises(ValueError, match="no TEST videos to send"):
        held_out_videos(tmp_path, 5)


def test_degraded_copies_are_written_once(held_out_dataset: Path, tmp_path: Path) -> None:
    clean = held_out_videos(held_out_dataset, 2)
    degraded = degrade(clean, tmp_path / "traffic")
    assert [p.name for p in degraded] == [f"{p.stem}_{DEGRADATION}.avi" for p in clean]
    before, after = read_video(clean[0]).frames, read_video(degraded[0]).frames
    assert after.shape == before.shape and not np.array_equal(after, before)
    stamps = [p.stat().st_mtime_ns for p in degraded]
    assert degrade(clean, tmp_path / "traffic") == degraded  # a re-run reuses them
    assert [p.stat().st_mtime_ns for p in degraded] == stamps
