"""Write a synthetic dataset in the EchoNet-Dynamic layout: FileList.csv, VolumeTracings.csv, Videos/*.avi.

Patients own one to three studies and splits are drawn per patient, so no patient crosses splits.
Rendering runs in worker processes; the output does not depend on the number of workers.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np

from ultrasound.echonet import ECHONET_COLUMNS, PLATFORM_COLUMNS
from ultrasound.simulator import FPS, Study, render_study, sample_ef, sample_study
from ultrasound.video_io import write_avi

FILELIST_COLUMNS = [*ECHONET_COLUMNS, *PLATFORM_COLUMNS]
TRACING_COLUMNS = ["FileName", "X1", "Y1", "X2", "Y2", "Frame"]
FACTOR_COLUMNS = ["FileName", "HeartRate", "EDFrame", "ESFrame", "PixelCm", "EFTarget"]
SPLIT_SHARES = {"TRAIN": 0.75, "VAL": 0.125, "TEST": 0.125}
PEDIATRIC_SHARE_MIXED = 0.3


def plan_studies(n_videos: int, seed: int, cohort: str = "adult") -> list[tuple[Study, str, str]]:
    """Draw every study's factors, its patient and split: [(study, split, study_date)].

    Raises:
        ValueError: unknown cohort or a non-positive count.
    """
    if cohort not in ("adult", "pediatric", "mixed"):
        raise ValueError(f"unknown cohort {cohort!r}; expected adult, pediatric or mixed")
    if n_videos <= 0:
        raise ValueError(f"--n-videos must be positive, got {n_videos}")
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    plan: list[tuple[Study, str, str]] = []
    patient = 0
    start = dt.date(2020, 1, 1)
    while len(plan) < n_videos:
        patient += 1
        pid = f"SIM{seed % 10000:04d}-{patient:05d}"
        split = str(rng.choice(list(SPLIT_SHARES), p=list(SPLIT_SHARES.values())))
        group = cohort
        if cohort == "mixed":
            group = "pediatric" if rng.random() < PEDIATRIC_SHARE_MIXED else "adult"
        first_visit = start + dt.timedelta(days=int(rng.integers(0, 5 * 365)))
        patient_ef = sample_ef(rng)  # a patient's EF persists across visits, up to measurement noise
        for visit in range(min(int(rng.choice([1, 1, 1, 2, 2, 3])), n_videos - len(plan))):
            ef = float(np.clip(patient_ef + rng.normal(0.0, 3.0), 8.0, 82.0))
            study = replace(sample_study(len(plan), group, seed, rng), patient_id=pid, ef_target=ef)
            date = first_visit + dt.timedelta(days=int(visit * rng.integers(30, 400)))
            plan.append((study, split, date.isoformat()))
    return plan


def _render_to_disk(args: tuple[Study, str]) -> dict:
    study, videos_dir = args
    out = render_study(study)
    write_avi(Path(videos_dir) / f"{study.file_name}.avi", out.video, FPS)
    rows = []
    for frame, chords in ((out.ed_frame, out.ed_chords), (out.es_frame, out.es_chords)):
        rows += [[study.file_name, *np.round(c, 4).tolist(), frame] for c in chords]
    return {
        "ef": out.ef, "esv": out.esv, "edv": out.edv, "frames": int(out.video.shape[0]),
        "height": int(out.video.shape[1]), "width": int(out.video.shape[2]), "tracings": rows,
        "factors": [
            study.file_name, study.heart_rate, out.ed_frame, out.es_frame, study.pixel_cm, study.ef_target
        ],
    }  # fmt: skip


def simulate_dataset(
    out_dir: str | Path,
    n_videos: int,
    seed: int = 0,
    cohort: str = "adult",
    workers: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render `n_videos` studies into an EchoNet-Dynamic folder and return its FileList.csv path.

    Args:
        out_dir: dataset folder (created); existing Videos/ of the same name are overwritten.
        cohort: adult, pediatric or mixed.
        workers: rendering processes (default: all cores).
        on_progress: called as (done, total) after each video.
    """
    out = Path(out_dir)
    videos = out / "Videos"
    videos.mkdir(parents=True, exist_ok=True)
    plan = plan_studies(n_videos, seed, cohort)
    workers = max(1, min(workers or os.cpu_count() or 1, n_videos))
    jobs = [(study, str(videos)) for study, _, _ in plan]
    results: list[dict] = []
    if workers == 1:
        iterator = map(_render_to_disk, jobs)
    else:
        pool = ProcessPoolExecutor(workers)
        iterator = pool.map(_render_to_disk, jobs, chunksize=4)
    try:
        for done, result in enumerate(iterator, 1):
            results.append(result)
            if on_progress:
                on_progress(done, n_videos)
    finally:
        if workers > 1:
            pool.shutdown()
    _write_tables(out, plan, results)
    config = {
        "n_videos": n_videos,
        "seed": seed,
        "cohort": cohort,
        "fps": FPS,
        "generator": "ultrasound.simulator",
    }
    (out / "simulation.json").write_text(json.dumps(config, indent=2) + "\n")
    return out / "FileList.csv"


def _write_tables(out: Path, plan: list[tuple[Study, str, str]], results: list[dict]) -> None:
    with (out / "FileList.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FILELIST_COLUMNS)
        for (study, split, date), r in zip(plan, results, strict=True):
            writer.writerow([
                study.file_name, f"{r['ef']:.4f}", f"{r['esv']:.4f}", f"{r['edv']:.4f}",
                r["height"], r["width"],
                int(FPS), r["frames"], split, study.view, study.patient_id, study.cohort, study.device, date,
            ])  # fmt: skip
    with (out / "VolumeTracings.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(TRACING_COLUMNS)
        for r in results:
            writer.writerows(r["tracings"])
    with (out / "SimulationFactors.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(FACTOR_COLUMNS)
        writer.writerows(r["factors"] for r in results)
