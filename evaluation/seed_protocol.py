"""The seed table's measurements of one frozen encoder, the EchoJEPA paper's protocol in miniature: EF MAE
(attentive probe, TRAIN+VAL -> TEST), view accuracy at 1 / 10 / 100 % of the labels, EF MAE under the six
robustness settings (two artefact families × three severities) and their mean relative increase, and the
pediatric shift: the adult probe applied zero-shot against a probe trained on pediatric studies.

Pediatric sets are small (EchoNet-Pediatric's test fold, the simulator's 60 studies), so the pediatric
probe is scored by K-fold cross-validation grouped by patient: every labelled pediatric study is a test
study exactly once, for both the zero-shot and the probe-trained column (paired numbers)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.config import EvaluationConfig
from evaluation.probe_protocol import label_efficiency_curves, probe_suites
from evaluation.probing import fit_suite, summary
from evaluation.robustness import robustness_report
from evaluation.tokens import embed_cached
from model.config import PretrainConfig
from model.data import build_clip_cache
from model.probe_eval import split_masks
from model.probes import ProbeSpec
from model.vision_transformer import VideoViT

Progress = Callable[[str, int, int], None]  # (phase, done, total)
# 3 folds: a third of the pediatric studies tested per fold (20 of the simulator's 60), 9 probes in all
PEDIATRIC_FOLDS = 3


@dataclass(frozen=True)
class Dataset:
    """An EchoNet-layout folder, the manifest read and its decoded clip cache."""

    folder: Path
    cache: Path
    manifest: Path

    def table(self) -> pd.DataFrame:
        return build_clip_cache(self.folder, self.cache, manifest=self.manifest)


def patient_folds(table: pd.DataFrame, k: int, seed: int = 0) -> np.ndarray:
    """A fold index per row, whole patients per fold (PatientID, else FileName), seeded."""
    groups = (table.PatientID if "PatientID" in table else table.FileName).astype(str).to_numpy()
    unique = np.random.default_rng(seed).permutation(np.unique(groups))
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return np.array([fold_of[g] for g in groups])


def pediatric_shift(
    encoder: VideoViT, config: PretrainConfig, data: Dataset, adult_ef, eval_config: EvaluationConfig,
    spec: ProbeSpec, folds: int, adult_train: int, on_progress: Progress | None,
) -> dict | str:  # fmt: skip
    """Zero-shot (the adult probes, unchanged) vs probe-trained (K-fold, grouped by patient) EF MAE on
    every labelled pediatric study; mean ± std over probe seeds. The pediatric probe gets at least the
    optimiser steps of the adult one (`adult_train` studies at the spec's epochs): on a set a fifth of the
    size, the same epochs would leave it undertrained and blame the representation for it."""
    table = data.table()
    ef = pd.to_numeric(table.get("EF"), errors="coerce").to_numpy(float)
    labelled = np.isfinite(ef)
    if labelled.sum() < 2 * folds:
        return f"n/a ({data.folder} has {int(labelled.sum())} EF-labelled studies; need {2 * folds})"
    rows = table[labelled].reset_index(drop=True)
    true = ef[labelled]
    tokens = embed_cached(
        encoder, config, data.cache, rows.FileName, eval_config.clips_per_video, "pediatric", on_progress
    )
    zero_shot = np.abs(adult_ef.predict(tokens) - true[None]).mean(axis=1)  # [seeds]
    groups = (rows.PatientID if "PatientID" in rows else rows.FileName).nunique()
    folds = min(folds, groups)
    if folds < 2:
        return f"n/a ({data.folder}: the labelled studies come from {groups} patient(s); need 2)"
    fold = patient_folds(rows, folds)
    train_n = len(rows) * (folds - 1) / folds
    steps = math.ceil(adult_train / spec.batch_size) / math.ceil(train_n / spec.batch_size)
    spec = replace(spec, epochs=max(spec.epochs, math.ceil(spec.epochs * steps)))
    predicted = np.zeros((len(eval_config.probe_seeds), len(rows)))
    for f in range(folds):
        test = fold == f
        suite = fit_suite(tokens, true, "regression", ~test, test, (1.0,), eval_config.probe_seeds, spec)
        predicted[:, test] = suite.test_outputs
    trained = np.abs(predicted - true[None]).mean(axis=1)
    return {
        "n": len(rows), "folds": folds, "probe_epochs": spec.epochs,
        "zero_shot_ef_mae": summary(zero_shot), "probe_trained_ef_mae": summary(trained),
        "mean_predictor_ef_mae": float(np.abs(true - true.mean()).mean()),
    }  # fmt: skip


def measure(
    encoder: VideoViT,
    config: PretrainConfig,
    adult: Dataset,
    pediatric: Dataset | None,
    eval_config: EvaluationConfig,
    spec: ProbeSpec,
    pediatric_folds: int = PEDIATRIC_FOLDS,
    on_progress: Progress | None = None,
) -> dict:
    """Every seed-table number of one frozen encoder, with wall seconds per phase."""
    seconds: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[phase] = round(now - clock, 1)
        clock = now

    table = adult.table()
    tokens = embed_cached(
        encoder, config, adult.cache, table.FileName, eval_config.clips_per_video, "embed", on_progress
    )
    lap("embed")
    ef, view = probe_suites(tokens, table, eval_config, spec)
    lap("probes")
    out: dict = {"n_videos": len(table), "n_test": int(split_masks(table)[1].sum())}
    if isinstance(ef, str):
        out |= {"ef_mae": ef, "robustness": ef, "pediatric": ef}
    else:
        full = ef.by_fraction["1"]
        out |= {"ef_mae": full["mae"], "ef_rmse": full["rmse"], "ef_r2": full["r2"]}
        ef_test = split_masks(table)[1] & np.isfinite(pd.to_numeric(table.EF, errors="coerce").to_numpy())
        names, true = table.FileName[ef_test].tolist(), table.EF.to_numpy(float)[ef_test]
        out["robustness"] = robustness_report(
            encoder, config, adult.cache, names, true, ef, full["mae"]["mean"], eval_config, on_progress
        )
        lap("robustness")
        out["pediatric"] = (
            "n/a (no pediatric dataset given)"
            if pediatric is None
            else pediatric_shift(
                encoder,
                config,
                pediatric,
                ef,
                eval_config,
                spec,
                pediatric_folds,
                int(full["train_examples"]),
                on_progress,
            )
        )
        lap("pediatric")
    out["view_accuracy"] = (
        view if isinstance(view, str) else label_efficiency_curves(ef, view)["view_accuracy"]
    )
    out["seconds"] = seconds
    return out
