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
) -> list[dict[str, float]]:
    """One probe per seed on a seeded label fraction of the training rows; its TEST metrics per seed."""
    runs = []
    for seed in seeds:
        subset = np.flatnonzero(train)[label_fraction(target[train], fraction, seed)]
        probe, stats = fit_probe(np.asarray(tokens[subset]), target[subset], kind, spec, seed)
        out = predict(probe, np.asarray(tokens[test]), stats)
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
    results: dict = {"embeddings": str(embeddings), "probe": spec.__dict__, "tasks": {}}
    for task in tasks:
        if task == "ef":
            target, kind = frame.EF.to_numpy(float), "regression"
        else:
            views = sorted(frame.View.unique()) if "View" in frame else []
            if len(views) < 2:
                results["tasks"][task] = "n/a (fewer than two views)"
                continue
            target, kind = frame.View.map({v: i for i, v in enumerate(views)}).to_numpy(), "classification"
        per_fraction = {}
        for fraction in fractions:
            runs = probe_runs(tokens, target, kind, train, test, fraction, seeds, spec)
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


def write_results(results: dict, out: Path) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return out
