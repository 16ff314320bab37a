"""Simulator and quality-metric throughput on this machine, and CLI start-up.

Targets (issue: Foundation): 300 videos in ≤ 30 s and 1,000 in ≤ 2 min with parallel workers; the
quality metrics and cause classifier cheap enough to run per request; `echojepa --help` < 1 s.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _simulate(n: int, workers: int) -> float:
    from ultrasound.dataset import simulate_dataset

    tmp = Path(tempfile.mkdtemp(prefix="bench_sim_"))
    try:
        start = time.perf_counter()
        simulate_dataset(tmp, n, seed=123, workers=workers)
        return time.perf_counter() - start
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _quality(n: int) -> dict:
    from ultrasound.causes import classify_causes
    from ultrasound.quality import quality_metrics
    from ultrasound.simulator import render_study, sample_study

    rng = np.random.default_rng(5)
    clips = [render_study(sample_study(i, "adult", 5, rng)).video for i in range(n)]
    metric_s, cause_s = [], []
    for clip in clips:
        t0 = time.perf_counter()
        m = quality_metrics(clip)
        t1 = time.perf_counter()
        classify_causes(m)
        cause_s.append(time.perf_counter() - t1)
        metric_s.append(t1 - t0)
    return {
        "clips": n,
        "frames_median": float(np.median([len(c) for c in clips])),
        "quality_metrics_ms_p50": 1e3 * statistics.median(metric_s),
        "quality_metrics_ms_p99": 1e3 * float(np.percentile(metric_s, 99)),
        "cause_classifier_ms_p50": 1e3 * statistics.median(cause_s),
        "videos_per_s_one_core": 1.0 / statistics.median(metric_s),
    }


def _help_seconds(repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "flows.cli", "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> dict:
    workers = cpu_count()
    t300 = _simulate(300, workers)
    t1000 = _simulate(1000, workers)
    return {
        "date": dt.date.today().isoformat(),
        "workers": workers,
        "simulate_300_s": round(t300, 2),
        "simulate_300_target_s": 30,
        "simulate_1000_s": round(t1000, 2),
        "simulate_1000_target_s": 120,
        "simulate_videos_per_s": round(1000 / t1000, 2),
        "quality": _quality(60),
        "cli_help_s_median": round(_help_seconds(), 3),
    }
