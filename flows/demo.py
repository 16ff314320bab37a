"""`echojepa demo`: the platform end to end on synthetic data, as far as it reaches today.

Stages so far: simulate adult and pediatric cohorts → dataset summary and realism check → acoustic
perturbations and the cause classifier on a held-out clip. A rerun reuses a dataset whose settings match.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

PEDIATRIC_SHARE = 0.2


def _simulate_once(out: Path, n_videos: int, seed: int, cohort: str) -> tuple[float, bool]:
    """Simulate unless `out` already holds this exact dataset; returns (seconds, reused)."""
    from flows.progress import progress_bar
    from ultrasound.dataset import simulate_dataset

    settings = out / "simulation.json"
    wanted = {"n_videos": n_videos, "seed": seed, "cohort": cohort}
    if settings.exists() and (out / "FileList.csv").exists():
        found = json.loads(settings.read_text())
        if all(found.get(k) == v for k, v in wanted.items()):
            return 0.0, True
    start = time.perf_counter()
    with progress_bar(f"simulate {cohort} ({n_videos} videos)", n_videos) as advance:
        simulate_dataset(out, n_videos, seed, cohort, on_progress=advance)
    return time.perf_counter() - start, False


def _perturbation_check(dataset: Path, out: Path) -> list[tuple[str, str]]:
    """Perturb one test clip with every kind at high severity and name each with the cause classifier."""
    import numpy as np
    import pandas as pd

    from ultrasound.causes import classify_causes
    from ultrasound.perturbations import PERTURBATION_KINDS, perturb
    from ultrasound.quality import quality_metrics
    from ultrasound.video_io import read_video, write_avi

    table = pd.read_csv(dataset / "FileList.csv")
    name = table[table.Split == "TEST"].FileName.iloc[0]
    clip = read_video(dataset / "Videos" / f"{name}.avi")
    rows = []
    for kind in ("none", *PERTURBATION_KINDS):
        frames = (
            clip.frames if kind == "none" else perturb(clip.frames, kind, "high", np.random.default_rng(0))
        )
        write_avi(out / f"{name}_{kind}.avi", frames, clip.fps)
        verdict = classify_causes(quality_metrics(frames, clip.fps))
        rows.append((kind, ", ".join(verdict.causes) if verdict.degraded else "clean"))
    return rows


def run_demo(out: Path, n_videos: int, seed: int) -> None:
    """Run every stage that exists and print what happened and where to look."""
    from rich.console import Console
    from rich.table import Table

    from flows.reports import print_dataset_summary

    console = Console()
    console.rule("EchoJEPA demo")
    pediatric = out.with_name(out.name + "-pediatric")
    n_ped = max(10, int(n_videos * PEDIATRIC_SHARE))
    t_adult, reused_a = _simulate_once(out, n_videos, seed, "adult")
    t_ped, reused_p = _simulate_once(pediatric, n_ped, seed + 1, "pediatric")
    for path, secs, reused in ((out, t_adult, reused_a), (pediatric, t_ped, reused_p)):
        console.print(
            f"[bold]simulate[/] {path}: " + ("reused (settings unchanged)" if reused else f"{secs:.1f} s")
        )
    print_dataset_summary(out)
    perturbed = Path("data/demo/perturbed")
    checks = _perturbation_check(out, perturbed)
    table = Table(title="Cause classifier on one test clip, each perturbation at 'high'")
    table.add_column("applied")
    table.add_column("named")
    for applied, named in checks:
        table.add_row(applied, named)
    console.print(table)
    console.rule("where to look")
    console.print(f"datasets: {out}/ and {pediatric}/ (FileList.csv, VolumeTracings.csv, Videos/)")
    console.print(f"perturbed clips: {perturbed}/  ·  inspect any video: echojepa quality {perturbed}/*.avi")
    console.print("next: echojepa pretrain → embed → probe (the model stages, not yet part of the demo)")
    console.print(
        "not yet built: feature store, evaluation and gates, release, serving, monitoring (open issues)"
    )
