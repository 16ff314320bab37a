"""Synthetic production logs and references in the exact format of the real ones, for tests, the detection
benchmark and demos without a served model.

Quality metrics come from simulated clips (clean, or degraded by one perturbation kind), measured with
the same `ultrasound.quality` code serving uses; warnings and `degraded` come from the shared cause
classifier, as serving writes them. Predictions and embeddings are drawn at random (no encoder runs), so
they are only as meaningful as the parameters given here.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ultrasound.quality import METRICS

VIEWS = {"A4C": 0.5, "A2C": 0.15, "PLAX": 0.12, "PSAX": 0.13, "SUBCOSTAL": 0.1}  # the simulator's mix
CLEAN = ("clean", "none")


def as_served(frames: np.ndarray, fps: float = 50.0) -> np.ndarray:
    """The frames as serving sees them: written as an MJPEG AVI (how the simulator and EchoNet store
    videos) and decoded again. The JPEG round trip changes the quality metrics measurably."""
    import tempfile

    from ultrasound.video_io import read_video, write_avi

    with tempfile.TemporaryDirectory(prefix="echojepa-served-") as tmp:
        path = write_avi(Path(tmp) / "clip.avi", frames, fps)
        return read_video(path).frames


def _clip(args: tuple[int, int, tuple[tuple[str, str], ...], bool]) -> list[dict]:
    """Metrics of one simulated clip under each (kind, severity) variant; per-clip draws seeded by index."""
    from ultrasound.perturbations import perturb
    from ultrasound.quality import quality_metrics
    from ultrasound.simulator import COHORTS, render_study, sample_study

    index, seed, variants, served = args
    rng = np.random.default_rng([seed, index])
    study = sample_study(index, COHORTS[index % 2], seed, rng)
    video = render_study(study).video
    rows = []
    for kind, severity in variants:
        clip = video if kind == "clean" else perturb(video, kind, severity, rng)
        clip = as_served(clip) if served else clip
        rows.append({"video": index, "kind": kind, "severity": severity, **quality_metrics(clip)})
    return rows


def simulate_metrics(
    n_videos: int,
    seed: int = 0,
    variants: tuple[tuple[str, str], ...] = (CLEAN,),
    workers: int | None = None,
    served: bool = True,
) -> pd.DataFrame:
    """Quality metrics of `n_videos` simulated clips under each variant: columns video, kind, severity and
    the METRICS, one row per clip and variant (as ultrasound.fit_causes simulates them). `served`: measured
    after an AVI round trip, as in production (`as_served`); False: on the rendered frames, the condition
    the cause classifier was fitted in."""
    jobs = [(i, seed, tuple(variants), served) for i in range(n_videos)]
    workers = workers or min(len(jobs), os.cpu_count() or 1)
    if workers <= 1:
        rows = [r for job in jobs for r in _clip(job)]
    else:
        with ProcessPoolExecutor(workers) as pool:
            rows = [r for clip in pool.map(_clip, jobs, chunksize=2) for r in clip]
    return pd.DataFrame(rows)


def _predictions(n: int, rng: np.random.Generator, ef_mean: float, embedding_dim: int, shift: float) -> dict:
    views = rng.choice(list(VIEWS), size=n, p=list(VIEWS.values()))
    probs = rng.dirichlet(np.ones(len(VIEWS)), size=n).astype(np.float32)
    embedding = rng.normal(shift, 1.0, size=(n, embedding_dim)).astype(np.float32)
    return {
        "ef": np.clip(rng.normal(ef_mean, 8.0, n), 5.0, 85.0),
        "view": views,
        "view_probs": list(probs),
        "embedding": list(embedding),
    }


def synthetic_reference(
    metrics: pd.DataFrame, seed: int = 0, ef_mean: float = 55.0, embedding_dim: int = 16
) -> pd.DataFrame:
    """A reference frame as packaging writes it: FileName, METRICS, ef, view, embedding."""
    rng = np.random.default_rng(seed)
    frame = metrics[list(METRICS)].reset_index(drop=True)
    frame.insert(0, "FileName", [f"0XREF{i:06d}" for i in range(len(frame))])
    predicted = _predictions(len(frame), rng, ef_mean, embedding_dim, 0.0)
    return frame.assign(ef=predicted["ef"], view=predicted["view"], embedding=predicted["embedding"])


def synthetic_log(
    metrics: pd.DataFrame,
    start: str | pd.Timestamp,
    *,
    model_version: str = "v1",
    seed: int = 0,
    spacing_s: float = 60.0,
    ef_mean: float = 55.0,
    embedding_dim: int = 16,
    embedding_shift: float = 0.0,
    devices: tuple[str, ...] = ("sim-a", "sim-b"),
    cohorts: tuple[str, ...] = ("adult",),
    study_prefix: str = "PS",
) -> pd.DataFrame:
    """Production-log rows (Interfaces' columns) for clips with these quality metrics, one request every
    `spacing_s` seconds from `start`."""
    from ultrasound.causes import classify_causes

    rng = np.random.default_rng(seed)
    n = len(metrics)
    quality = metrics[list(METRICS)].reset_index(drop=True).astype(float)
    verdicts = [classify_causes(row) for row in quality.to_dict("records")]
    begin = pd.Timestamp(start)
    begin = begin.tz_localize("UTC") if begin.tzinfo is None else begin.tz_convert("UTC")
    frame = pd.DataFrame(
        {
            "request_id": [f"req-{seed}-{i:06d}" for i in range(n)],
            "time": begin + pd.to_timedelta(np.arange(n) * spacing_s, unit="s"),
            "model_version": model_version,
        }
    )
    frame = pd.concat([frame, quality], axis=1)
    predicted = _predictions(n, rng, ef_mean, embedding_dim, embedding_shift)
    return frame.assign(
        warnings=[",".join(v.causes) for v in verdicts],
        degraded=[v.degraded for v in verdicts],
        **predicted,
        latency_ms=rng.uniform(20.0, 80.0, n),
        study_id=[f"{study_prefix}{seed:03d}{i:06d}" for i in range(n)],
        device=[devices[i % len(devices)] for i in range(n)],
        cohort=[cohorts[i % len(cohorts)] for i in range(n)],
    )


def write_production_log(frame: pd.DataFrame, root: Path, worker: str = "w0") -> list[Path]:
    """Append `frame` to a hive-partitioned log: root/date=YYYY-MM-DD/<worker>-<batch>.parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    written = []
    for day, rows in frame.groupby(frame.time.dt.strftime("%Y-%m-%d")):
        folder = Path(root) / f"date={day}"
        folder.mkdir(parents=True, exist_ok=True)
        batch = len(list(folder.glob(f"{worker}-*.parquet")))
        table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
        path = folder / f"{worker}-{batch:05d}.parquet"
        pq.write_table(table, path)
        written.append(path)
    return written
