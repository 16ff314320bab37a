"""The demo's cause-classifier check on one held-out clip: every perturbation kind at 'high', each clip
written for people to inspect, the clean clip named clean."""

from __future__ import annotations

from pathlib import Path

from demo.run import perturbation_check
from demo.traffic import DEGRADATION, held_out_videos
from ultrasound.perturbations import PERTURBATION_KINDS


def test_every_kind_is_applied_written_and_named(held_out_dataset: Path, tmp_path: Path) -> None:
    video = held_out_videos(held_out_dataset, 1)[0]
    rows = dict(perturbation_check(video, tmp_path / "perturbed"))
    assert list(rows) == ["none", *PERTURBATION_KINDS]
    assert rows["none"] == "clean"
    # the degradation the demo's traffic carries is one the classifier names, so monitoring can find it
    assert DEGRADATION in rows[DEGRADATION].split(", ")
    written = sorted(p.name for p in (tmp_path / "perturbed").iterdir())
    assert written == sorted(f"{video.stem}_{kind}.avi" for kind in rows)
