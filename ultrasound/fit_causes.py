"""Fit and evaluate the cause classifier on simulated clips.

    python -m ultrasound.fit_causes --n-videos 240 --seed 11      # writes ultrasound/cause_model.json
    python -m ultrasound.fit_causes --evaluate --n-videos 120 --seed 99

Each simulated clip contributes its clean metrics and those of every kind at every severity, with the
per-video random draws (shadow centre, wedge) seeded from the clip; each of them twice: as rendered and
after an MJPEG AVI round trip (how EchoNet stores videos and how most uploads arrive). JPEG's blocking and
smoothing move the metrics: a model fitted on rendered clips only flagged about 31 % of clean clips once
they had been through an AVI file (monitoring's benchmark found it), against 2 % before.
"""

from __future__ import annotations

import argparse
import json
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ultrasound.causes import CLASSES, MODEL_PATH, CauseModel, classify_causes, features
from ultrasound.perturbations import PERTURBATION_KINDS, SEVERITIES, perturb
from ultrasound.quality import quality_metrics
from ultrasound.simulator import COHORTS, render_study, sample_study

SEVERITY_WEIGHT = {"none": 1.0, "low": 0.3, "medium": 0.7, "high": 1.0}
# quantile of the calibration clips; measured on unseen clips: about 2 % (docs/monitoring.md)
FALSE_ALARM_TARGET = 0.005


def avi_round_trip(frames: np.ndarray, fps: float = 50.0) -> np.ndarray:
    """The frames after being written as an MJPEG AVI and decoded again."""
    import tempfile

    from ultrasound.video_io import read_video, write_avi

    with tempfile.TemporaryDirectory(prefix="echojepa-avi-") as tmp:
        return read_video(write_avi(Path(tmp) / "clip.avi", frames, fps)).frames


def clip_metrics(args: tuple[int, int]) -> list[tuple[str, str, dict[str, float]]]:
    """(kind, severity, metrics) for one simulated clip, clean first then every kind × severity; each as
    rendered and after an AVI round trip."""
    index, seed = args
    rng = np.random.default_rng([seed, index])
    study = sample_study(index, COHORTS[index % 2], seed, rng)
    video = render_study(study).video
    clips = [("clean", "none", video)]
    for kind in PERTURBATION_KINDS:
        for severity in SEVERITIES:
            clips.append((kind, severity, perturb(video, kind, severity, rng)))
    rows = []
    for kind, severity, clip in clips:
        rows.append((kind, severity, quality_metrics(clip)))
        rows.append((kind, severity, quality_metrics(avi_round_trip(clip))))
    return rows


def simulate_metrics(
    n_videos: int, seed: int, workers: int | None = None
) -> list[tuple[int, str, str, dict]]:
    """Metrics of n_videos clips and their perturbed copies: [(video index, kind, severity, metrics)]."""
    jobs = [(i, seed) for i in range(n_videos)]
    with ProcessPoolExecutor(workers or os.cpu_count() or 1) as pool:
        per_clip = list(pool.map(clip_metrics, jobs, chunksize=2))
    return [(i, k, s, m) for i, rows in enumerate(per_clip) for k, s, m in rows]


def fit(rows: list[tuple[int, str, str, dict]], holdout: float = 0.5, c: float = 10.0) -> CauseModel:
    """Multinomial logistic regression on the rows of some videos; the clean threshold on the others."""
    from sklearn.linear_model import LogisticRegression

    videos = sorted({r[0] for r in rows})
    calib = set(videos[: int(len(videos) * holdout)])
    x = np.stack([features(m) for _, _, _, m in rows])
    y = np.array([CLASSES.index(k) for _, k, _, _ in rows])
    w = np.array([SEVERITY_WEIGHT[s] for _, _, s, _ in rows])
    train = np.array([r[0] not in calib for r in rows])
    mean, scale = x[train].mean(axis=0), x[train].std(axis=0) + 1e-9
    clf = LogisticRegression(C=c, max_iter=5000)
    clf.fit((x[train] - mean) / scale, y[train], sample_weight=w[train])
    model = CauseModel(mean, scale, clf.coef_, clf.intercept_, clean_threshold=0.5)
    clean_calib = (~train) & (y == 0)
    p_clean = model.probabilities(x[clean_calib])[:, 0]
    threshold = float(min(0.5, np.quantile(p_clean, FALSE_ALARM_TARGET)))
    return CauseModel(mean, scale, clf.coef_, clf.intercept_, clean_threshold=threshold)


def evaluate(rows: list[tuple[int, str, str, dict]], model: CauseModel | None = None) -> dict:
    """Detection and naming rates per kind and severity, the clean false-alarm rate, and the confusion
    matrix at 'high' severity (rows: true kind, columns: top-named cause or 'clean')."""
    labels = list(CLASSES)
    confusion = {k: dict.fromkeys(labels, 0) for k in labels}
    rates: dict[str, dict[str, float]] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    for _, kind, severity, metrics in rows:
        verdict = classify_causes(metrics, model)
        named = verdict.causes[0] if verdict.degraded else "clean"
        hit = counts.setdefault((kind, severity), [0, 0, 0])
        hit[0] += 1
        hit[1] += int(verdict.degraded)
        hit[2] += int(named == kind)
        if severity in ("high", "none"):
            confusion[kind][named] += 1
    for (kind, severity), (n, detected, right) in counts.items():
        rates.setdefault(kind, {})[severity] = {"n": n, "detected": detected / n, "named_right": right / n}
    return {"rates": rates, "false_alarm": rates["clean"]["none"]["detected"], "confusion_high": confusion}


def main() -> None:
    parser = argparse.ArgumentParser(description="Fit or evaluate the cause classifier on simulated clips.")
    parser.add_argument("--n-videos", type=int, default=240)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--evaluate", action="store_true", help="evaluate the shipped model instead of fitting"
    )
    parser.add_argument("--out", type=Path, default=MODEL_PATH)
    args = parser.parse_args()
    rows = simulate_metrics(args.n_videos, args.seed)
    if args.evaluate:
        print(json.dumps(evaluate(rows), indent=1))
        return
    model = fit(rows)
    args.out.write_text(json.dumps(model.to_json(), indent=1) + "\n")
    print(f"wrote {args.out}; clean threshold {model.clean_threshold:.3f}")
    print(json.dumps(evaluate(rows, model)["rates"], indent=1))


if __name__ == "__main__":
    main()
