"""Realism, shortcut and label-in-pixels figures of the simulator, as JSON.

The same measurements the tests assert, on the same dataset (240 mixed-cohort videos, seed 1), reported as
numbers for the README and the issue notes. The cause classifier has a benchmark of its own (bench_causes).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from ultrasound.dataset import plan_studies, simulate_dataset
from ultrasound.realism import (
    ECHONET_RANGES,
    cavity_emptying,
    contour_mask,
    ed_chords,
    global_statistics,
    image_statistics,
    median_speckle_share,
    nuisance_correlations,
    shortcut_r2,
)
from ultrasound.video_io import read_video


def _realism(folder: Path, table: pd.DataFrame) -> dict:
    adult = table[table.Cohort == "adult"].FileName.iloc[:60]
    stats = pd.DataFrame([image_statistics(read_video(folder / "Videos" / f"{n}.avi").frames) for n in adult])
    return {
        key: {"simulated_median": round(float(stats[key].median()), 3), "real": ECHONET_RANGES[key]}
        for key in stats.columns
    }


def _label_signal(folder: Path, table: pd.DataFrame, tracings: pd.DataFrame) -> dict:
    videos = {n: read_video(folder / "Videos" / f"{n}.avi").frames for n in table.FileName}
    features = np.stack([global_statistics(videos[n]) for n in table.FileName])
    apical = table[table.View.isin(["A4C", "A2C"])]
    by_file = dict(list(tracings.groupby("FileName")))
    proxy = []
    for name in apical.FileName:
        proxy.append(cavity_emptying(videos[name], contour_mask(ed_chords(by_file[name]))))
    return {
        "shortcut_r2_global_stats": round(shortcut_r2(features, table.EF.to_numpy()), 3),
        "ed_contour_dark_share_r_apical": round(float(np.corrcoef(proxy, apical.EF)[0, 1]), 3),
        "apical_videos": len(apical),
    }


def _independence() -> dict:
    plan = pd.DataFrame([asdict(s) for s, _, _ in plan_studies(3000, seed=7, cohort="mixed")])
    r = nuisance_correlations(plan, "ef_target", ("heart_rate",), ("device", "view", "cohort"))
    return {k: round(v, 3) for k, v in r.items()}


def run() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="bench_realism_"))
    try:
        simulate_dataset(tmp, 240, seed=1, cohort="mixed")
        table = pd.read_csv(tmp / "FileList.csv")
        tracings = pd.read_csv(tmp / "VolumeTracings.csv")
        result = {
            "dataset": "240 videos, mixed cohort, seed 1",
            "realism": _realism(tmp, table),
            "label": _label_signal(tmp, table, tracings),
            "max_abs_r_ef_vs_nuisance_3000_studies": _independence(),
            "speckle_share_of_tissue_variance": round(median_speckle_share(), 3),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result
