"""Perturb video files and whole EchoNet-layout datasets (the `echojepa perturb` command's library side)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ultrasound.perturbations import check_kind, perturb
from ultrasound.video_io import read_video, write_avi


def perturb_file(src: Path, dst: Path, kind: str, severity: str, seed: int = 0) -> Path:
    """Read one video, perturb it, write it as AVI at the source frame rate."""
    check_kind(kind, severity)
    video = read_video(src)
    return write_avi(dst, perturb(video.frames, kind, severity, np.random.default_rng(seed)), video.fps)


def perturb_dataset(
    src: Path,
    dst: Path,
    kind: str,
    severity: str,
    seed: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
) -> int:
    """Perturb every video of an EchoNet-layout folder into `dst`, copying its CSV files.

    Each video's random draw is seeded by (seed, its position in sorted order), so reruns are identical.

    Raises:
        ValueError: `src` has no Videos/ folder.
    """
    check_kind(kind, severity)
    videos = sorted(p for p in (Path(src) / "Videos").glob("*") if p.is_file())
    if not videos:
        raise ValueError(f"{src}: no Videos/ folder with video files (expected EchoNet layout)")
    dst = Path(dst)
    (dst / "Videos").mkdir(parents=True, exist_ok=True)
    for table in Path(src).glob("*.csv"):
        shutil.copy2(table, dst / table.name)
    for i, path in enumerate(videos):
        video = read_video(path)
        rng = np.random.default_rng([seed, i])
        write_avi(dst / "Videos" / f"{path.stem}.avi", perturb(video.frames, kind, severity, rng), video.fps)
        if on_progress:
            on_progress(i + 1, len(videos))
    return len(videos)
