"""Per-video facts measured at validation: can the video be decoded, what it really holds, how it looks.

A manifest can claim anything; the video suite compares these facts with the claims. The quality metrics
are computed once here and saved (facts.csv), so the feature store reuses them instead of decoding again.
"""

from __future__ import annotations

import ctypes
import math
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

FACT_COLUMNS = ("FileName", "decodable", "reason", "detail", "height", "width", "frames", "fps")
OK = "ok"  # the `reason` of a video that decodes
PR_SET_PDEATHSIG = 1  # prctl(2) option: the signal a child gets when its parent dies


def video_path(videos_dir: Path, file_name: str) -> Path:
    """Where a manifest row's video lives: EchoNet-Dynamic names files without `.avi`, other sets with it."""
    name = str(file_name)
    if name.lower().endswith(".avi"):
        return videos_dir / name
    with_ext = videos_dir / f"{name}.avi"
    return with_ext if with_ext.is_file() or not (videos_dir / name).is_file() else videos_dir / name


def metric_names() -> tuple[str, ...]:
    """Quality metrics saved next to the facts; `height` and `width` are facts already, so not repeated."""
    from ultrasound.quality import METRICS

    return tuple(m for m in METRICS if m not in FACT_COLUMNS)


def measure_one(path: str, file_name: str, max_decoded_bytes: int | None = None) -> dict[str, object]:
    """Facts of one video; an unreadable one gets its VideoError reason and NaN for everything measured.
    A video whose header declares more than `max_decoded_bytes` of pixels is not decoded at all
    (`too_large_decoded`): a hostile or mislabelled file in a dataset folder cannot exhaust a worker."""
    from ultrasound.quality import quality_metrics
    from ultrasound.video_io import DecodeLimits, VideoError, read_video

    row: dict[str, object] = {"FileName": file_name, "decodable": False, "reason": OK, "detail": ""}
    try:
        video = read_video(path, name=file_name, limits=DecodeLimits(max_decoded_bytes=max_decoded_bytes))
    except VideoError as exc:
        row.update(reason=exc.reason, detail=exc.detail)
    except Exception as exc:  # a decoder crash must quarantine one row, not stop the run
        row.update(reason="not_a_video", detail=f"{type(exc).__name__}: {exc}".splitlines()[0])
    else:
        t, h, w = video.frames.shape
        row.update(decodable=True, height=h, width=w, frames=t, fps=video.fps)
        row.update({k: v for k, v in quality_metrics(video.frames, video.fps).items() if k not in row})
        return row
    row.update(dict.fromkeys(("height", "width", "frames", "fps", *metric_names()), math.nan))
    return row


def _measure_chunk(jobs: Sequence[tuple[str, str]], max_decoded_bytes: int | None) -> list[dict[str, object]]:
    return [measure_one(path, name, max_decoded_bytes) for path, name in jobs]


def _die_with_parent() -> None:
    """Pool initializer: a worker gets SIGTERM when the validating process dies (a SIGKILLed `validate`
    would otherwise leave forked workers decoding on; they hold the call queue's write end, so they never
    see it close)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before the call took effect
            os._exit(1)


def measure_facts(
    dataset_dir: Path,
    table: pd.DataFrame,
    workers: int = 0,
    on_progress: Callable[[int, int], None] | None = None,
    max_decoded_mb: float | None = None,
) -> pd.DataFrame:
    """One row of facts per manifest row, in manifest order (a duplicated FileName is measured twice).

    Args:
        dataset_dir: the dataset folder holding Videos/.
        table: the manifest; only its FileName column is read.
        workers: processes to decode with (0 = every core); videos go out in chunks so the few ms of
            process overhead per task do not add up over thousands of videos.
        on_progress: called as (done, total) after each chunk.
        max_decoded_mb: a video declaring more decoded pixel data is quarantined undecoded (None: no bound).
    Returns:
        FACT_COLUMNS then every quality metric (NaN where the video did not decode), indexed like `table`.
    """
    videos_dir = Path(dataset_dir) / "Videos"
    names = [str(n) for n in table["FileName"]]
    jobs = [(str(video_path(videos_dir, n)), n) for n in names]
    total = len(jobs)
    workers = max(1, min(workers or os.cpu_count() or 1, total or 1))
    size = max(1, min(16, math.ceil(total / (workers * 4))))
    chunks = [jobs[i : i + size] for i in range(0, total, size)]
    rows: list[dict[str, object]] = []
    budget = None if max_decoded_mb is None else int(max_decoded_mb * 2**20)
    measure = partial(_measure_chunk, max_decoded_bytes=budget)
    pool = (
        ProcessPoolExecutor(workers, initializer=_die_with_parent)
        if workers > 1 and len(chunks) > 1
        else None
    )
    try:
        for part in pool.map(measure, chunks) if pool else map(measure, chunks):
            rows.extend(part)
            if on_progress:
                on_progress(len(rows), total)
    finally:
        if pool:
            pool.shutdown()
    columns = [*FACT_COLUMNS, *metric_names()]
    facts = pd.DataFrame(rows, columns=columns) if rows else pd.DataFrame(columns=columns)
    facts["decodable"] = facts["decodable"].astype(bool)
    for col in columns[4:]:
        facts[col] = pd.to_numeric(facts[col], errors="coerce").astype(np.float64)
    facts.index = table.index
    return facts
