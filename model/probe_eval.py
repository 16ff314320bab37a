"""Probe evaluation over a token cache: EF regression and view classification at label fractions, over
seeds, with test-time averaging over the cached clips. The training frame comes from a pluggable source:
the embeddings' own manifest here (`index.csv`), Feast once the Data layer lands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from model.probes import (
    ProbeSpec,
    classification_metrics,
    fit_probe,
    label_fraction,
    predict,
    regression_metrics,
)

TrainingFrame = Callable[[Path], pd.DataFrame]


def manifest_frame(embeddings: Path) -> pd.DataFrame:
    """The default training-frame source: the manifest written beside the tokens."""
    return pd.read_csv(Path(embeddings) / "index.csv")


def split_masks(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Probe training rows (TRAIN + VAL) and test rows (TEST) of a training frame, as boolean masks."""
    split = frame.Split.astype(str).str.upper()
    return split.isin(["TRAIN", "VAL"]).to_numpy(), (split == "TEST").to_numpy()


def probe_runs(
    tokens: np.ndarray,
    target: np.ndarray,
    kind: str,
    train: np.ndarray,
    test: np.ndarray,
    fraction: float,
    seeds: tuple[int, ...],
    spec: ProbeSpec,
    predictions: list[np.ndarray] | None = None,
    fitted: list[tuple] | None = None,
) -> list[dict[str, float]]:
    """One probe per seed on a seeded label fraction of the training rows; its TEST metrics per seed.

    `predictions`, when given, collects each seed's TEST outputs (EF, or class probabilities); `fitted`
    collects each seed's (probe, stats)."""
    runs = []
    for seed in seeds:
        subset = np.flatnonzero(train)[label_fraction(target[train], fraction, seed)]
        probe, stats = fit_probe(np.asarray(tokens[subset]), target[subset], kind, spec, seed)
        out = predict(probe, np.asarray(tokens[test]), stats)
        if predictions is not None:
            predictions.append(out)
        if fitted is not None:
            fitted.append((probe, stats))
        metrics = regression_metrics if kind == "regression" else classification_metrics
        runs.append(metrics(out, target[test]) | {"train_examples": len(subset)})
    return runs


def evaluate_probes(
    embeddings: Path,
    tasks: tuple[str, ...] = ("ef", "view"),
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0),
    seeds: tuple[int, ...] = (0, 1, 2),
    spec: ProbeSpec | None = None,
    frame_source: TrainingFrame = manifest_frame,
) -> dict:
    """Fit probes on TRAIN+VAL, report TEST metrics as mean ± std over seeds for each task and fraction.

    A task that the data cannot support (one view only) is reported as "n/a", never an error."""
    spec = spec or ProbeSpec()
    tokens = np.load(Path(embeddings) / "tokens.npy", mmap_mode="r")
    frame = frame_source(embeddings)
    train, test = split_masks(frame)
    names = frame.FileName.to_numpy() if "FileName" in frame else np.arange(len(frame))
    # "predictions": TEST outputs of the first seed at the largest fraction, for predicted-vs-true plots
    results: dict = {
        "embeddings": str(embeddings), "probe": spec.__dict__, "tasks": {}, "predictions": {}, "probes": {},
    }  # fmt: skip
    for task in tasks:
        if task == "ef":
            target, kind, views = frame.EF.to_numpy(float), "regression", []
            labelled = np.isfinite(target)  # unlabelled studies are pretraining material only
            if labelled[train].sum() < 2 or labelled[test].sum() < 1:
                results["tasks"][task] = "n/a (too few labelled studies)"
                continue
            task_train, task_test = train & labelled, test & labelled
        else:
            views = sorted(frame.View.unique()) if "View" in frame else []
            if len(views) < 2:
                results["tasks"][task] = "n/a (fewer than two views)"
                continue
            target, kind = frame.View.map({v: i for i, v in enumerate(views)}).to_numpy(), "classification"
            task_train, task_test = train, test
        per_fraction = {}
        for fraction in fractions:
            outputs: list[np.ndarray] = []
            fitted: list[tuple] = []
            runs = probe_runs(
                tokens, target, kind, task_train, task_test, fraction, seeds, spec, outputs, fitted
            )
            if fraction == max(fractions):
                probe, stats = fitted[0]  # the first seed's probe on the most labels: the one to serve
                results["probes"][task] = {"probe": probe, "stats": stats, "classes": views}
                true, first = target[task_test], outputs[0]
                if kind == "classification":  # class names, not indices
                    true, first = np.array(views)[true], np.array(views)[first.argmax(1)]
                results["predictions"][task] = {
                    "FileName": names[task_test].tolist(),
                    "actual": true.tolist(),
                    "predicted": first.tolist(),
                }
            per_fraction[f"{fraction:g}"] = {
                key: {
                    "mean": float(np.mean([r[key] for r in runs])),
                    "std": float(np.std([r[key] for r in runs])),
                }
                for key in runs[0]
                if key != "train_examples"
            } | {"train_examples": runs[0]["train_examples"]}
        results["tasks"][task] = per_fraction
    return results


def save_probes(fitted: dict, folder: Path, width: int, spec: ProbeSpec) -> list[Path]:
    """Each task's served probe as `folder/<task>.pt`: weights, target statistics, class names, spec."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for task, item in fitted.items():
        path = folder / f"{task}.pt"
        torch.save(
            {
                "state_dict": item["probe"].state_dict(), "stats": item["stats"], "classes": item["classes"],
                "spec": spec.__dict__, "width": width,
            },
            path,
        )  # fmt: skip
        paths.append(path)
    return paths


def write_results(results: dict, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out
