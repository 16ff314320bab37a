"""EF metrics of subgroups of the TEST set: reduced EF (MAE, and AUROC of detecting it from the predicted
EF) and MAE per value of a manifest column (Device, Cohort). Each takes every seed's predictions [S, n] and
reports the served ensemble's value beside mean ± std over seeds; a group the data cannot support is
NotMeasured."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from evaluation.results import NotMeasured, summary


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney U; ties count half). Needs both classes."""
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    ranks = rankdata(score)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def mae(preds: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """preds: [S, n] -> {value: the ensemble's MAE, mean ± std over the seeds' probes}."""
    return summary(np.abs(preds - true[None]).mean(axis=1), np.abs(preds.mean(0) - true).mean())


def reduced_ef(
    preds: np.ndarray, true: np.ndarray, threshold: float, train_mean: float | None = None
) -> dict:
    """MAE on studies with EF < threshold, and AUROC of −predicted EF for detecting them; with the TRAIN
    mean, the mean predictor's MAE on the same studies for scale."""
    positive = true < threshold
    out: dict = {"threshold": threshold, "n": int(positive.sum()), "n_total": len(true)}
    below = f"no TEST study with EF below {threshold:g}"
    out["ef_mae"] = mae(preds[:, positive], true[positive]) if positive.any() else NotMeasured(below)
    if train_mean is not None and positive.any():
        out["mean_predictor_ef_mae"] = float(np.abs(true[positive] - train_mean).mean())
    if positive.all() or not positive.any():
        out["auroc"] = NotMeasured(f"TEST holds one class only ({int(positive.sum())} of {len(true)} below)")
    else:
        out["auroc"] = summary((auroc(-p, positive) for p in preds), auroc(-preds.mean(0), positive))
    return out


def by_column(preds: np.ndarray, true: np.ndarray, frame: pd.DataFrame, column: str) -> dict | NotMeasured:
    """{value: {n, ef_mae}} for each value of a manifest column over the same rows as preds."""
    if column not in frame:
        return NotMeasured(f"no {column} column")
    values = frame[column].astype(str).to_numpy()
    groups = {}
    for value in sorted(np.unique(values)):
        rows = values == value
        groups[value] = {"n": int(rows.sum()), "ef_mae": mae(preds[:, rows], true[rows])}
    return groups
