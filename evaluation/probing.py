"""The frozen-encoder probe protocol of an evaluation: one probe per seed at each label fraction, trained on
TRAIN + VAL (model.probe_eval's split and seeded, stratified fractions), kept so that the same probes can
predict perturbed and out-of-cohort videos later."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from torch import nn

from model.probes import (
    ProbeSpec,
    classification_metrics,
    fit_probe,
    label_fraction,
    predict,
    regression_metrics,
)


def summary(values) -> dict[str, float]:
    """Mean ± std over seeds."""
    values = np.asarray(list(values), dtype=float)
    return {"mean": float(values.mean()), "std": float(values.std())}


@dataclass
class ProbeSuite:
    """Probes of one task over seeds; `probes` and `test_outputs` are those at 100 % labels."""

    kind: str  # regression | classification
    probes: list[tuple[nn.Module, dict]] = field(default_factory=list)
    test_outputs: np.ndarray | None = None  # [S, n] EF, or [S, n, K] class probabilities
    by_fraction: dict[str, dict] = field(default_factory=dict)  # "0.01" -> {metric: {mean, std}, ...}

    def predict(self, tokens: np.ndarray, classes: int | None = None) -> np.ndarray:
        """Every seed's outputs on other tokens [V, C, N, D]: [S, V] (EF) or [S, V, K]."""
        return np.stack([_padded(predict(p, tokens, s), classes) for p, s in self.probes])


def _padded(out: np.ndarray, classes: int | None) -> np.ndarray:
    """Class probabilities padded to K columns (a class absent from training gets probability 0)."""
    if classes is None or out.ndim == 1 or out.shape[1] == classes:
        return out
    return np.pad(out, ((0, 0), (0, classes - out.shape[1])))


def fit_suite(
    tokens: np.ndarray,
    target: np.ndarray,
    kind: str,
    train: np.ndarray,
    test: np.ndarray,
    fractions: tuple[float, ...],
    seeds: tuple[int, ...],
    spec: ProbeSpec,
    classes: int | None = None,
) -> ProbeSuite:
    """Fit probes for each fraction and seed; TEST metrics as mean ± std over seeds per fraction.

    Args:
        tokens: [V, C, N, D] clean tokens of every manifest row.
        target: [V] EF (regression) or class indices (classification).
        train, test: boolean row masks (labelled rows only).
    """
    suite = ProbeSuite(kind)
    metric = regression_metrics if kind == "regression" else classification_metrics
    test_tokens = np.asarray(tokens[test])
    for fraction in fractions:
        runs, outputs = [], []
        for seed in seeds:
            subset = np.flatnonzero(train)[label_fraction(target[train], fraction, seed)]
            probe, stats = fit_probe(np.asarray(tokens[subset]), target[subset], kind, spec, seed)
            out = _padded(predict(probe, test_tokens, stats), classes)
            runs.append(metric(out, target[test]))
            outputs.append(out)
            if fraction == 1.0:
                suite.probes.append((probe, stats))
        suite.by_fraction[f"{fraction:g}"] = {key: summary(r[key] for r in runs) for key in runs[0]} | {
            "train_examples": len(subset)
        }
        if fraction == 1.0:
            suite.test_outputs = np.stack(outputs)
    return suite
