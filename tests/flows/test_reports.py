"""The quality table stays whole on an 80-column terminal: no value or verdict is cut."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from flows.reports import print_quality
from ultrasound.causes import classify_causes
from ultrasound.perturbations import perturb
from ultrasound.quality import quality_metrics
from ultrasound.video_io import read_video, write_avi


def test_the_quality_table_is_readable_at_80_columns(sim_dir: Path, tmp_path: Path) -> None:
    clean = sorted((sim_dir / "Videos").glob("*.avi"))[0]
    video = read_video(clean)
    long_name = write_avi(
        tmp_path / "a_rather_long_study_name_depth.avi",
        perturb(video.frames, "depth_attenuation", "high", 0),
        video.fps,
    )
    console = Console(width=80, record=True)
    print_quality([clean, long_name], console)
    text = console.export_text()
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 80
    for path in (clean, long_name):
        verdict = classify_causes(quality_metrics(*(lambda v: (v.frames, v.fps))(read_video(path))))
        label = ", ".join(verdict.causes) if verdict.degraded else "clean"
        assert label in text  # the verdict whole
    assert "bright = brightness" in text  # the short headers are spelled out
