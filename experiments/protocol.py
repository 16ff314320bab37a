"""The seed table's measurements of one frozen encoder, the EchoJEPA paper's protocol in miniature, through
the evaluation's own pieces: EF MAE and view accuracy at every label fraction of params.yaml `probe:`
(evaluation.probe_protocol.fit_protocol on the manifest: TRAIN fits the heads, VAL selects, TEST scores;
every seed), EF MAE under the robustness settings of `evaluate:` and their mean relative increase
(evaluation.robustness, the served ensemble of the 100 % probes), and the pediatric shift: that ensemble
applied zero-shot (evaluation.pediatric) against probes trained on pediatric studies.

Pediatric sets are small (EchoNet-Pediatric's test fold, the simulator's 60 studies), so the pediatric
probe is scored by K-fold cross-validation grouped by patient: every labelled pediatric study is a test
study exactly once, for both the zero-shot and the probe-trained column (paired numbers)."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd

from config.layout import DataLayout
from config.params import Params
from evaluation import baselines
from evaluation.pediatric import PediatricSet, load_pediatric, zero_shot
from evaluation.probe_protocol import TaskProbes, fit_protocol, fit_task, selections, split_masks
from evaluation.results import NotMeasured
from evaluation.robustness import robustness_report
from evaluation.subgroups import mae
from evaluation.tokens import Progress, embed_cached
from model.config import token_time_steps
from model.data import build_clip_cache
from model.vision_transformer import VideoViT

# 3 folds: a third of the pediatric studies tested per fold (20 of the simulator's 60), 9 probes in all
PEDIATRIC_FOLDS = 3
VAL_FOLDS = 5  # with a grid of probe heads: a patient-grouped fifth of each fold's training studies selects


def patient_folds(table: pd.DataFrame, k: int, seed: int = 0) -> np.ndarray:
    """A fold index per row, whole patients per fold (PatientID, else FileName), seeded."""
    groups = (table.PatientID if "PatientID" in table else table.FileName).astype(str).to_numpy()
    unique = np.random.default_rng(seed).permutation(np.unique(groups))
    fold_of = {g: i % k for i, g in enumerate(unique)}
    return np.array([fold_of[g] for g in groups])


def probe_trained(data: PediatricSet, params: Params, folds: int, adult_train: int) -> dict | NotMeasured:
    """EF MAE of probes trained on pediatric studies, K-fold grouped by patient (`fit_task` per fold, the
    fold as TEST; with a grid of heads, a patient-grouped fifth of the other folds as VAL, which selects the
    head; every study is still tested exactly once). The pediatric probe gets at least the optimiser steps
    of the adult one (`adult_train` studies at the same epochs): on a set a fifth of the size, the same
    epochs would leave it undertrained and blame the representation for it."""
    if len(data.true) < 2 * folds:
        return NotMeasured(f"{data.dataset} has {len(data.true)} EF-labelled studies; need {2 * folds}")
    groups = (data.rows.PatientID if "PatientID" in data.rows else data.rows.FileName).nunique()
    folds = min(folds, groups)
    if folds < 2:
        return NotMeasured(f"{data.dataset}: the labelled studies come from {groups} patient(s); need 2")
    fold = patient_folds(data.rows, folds)
    probe = params.probe
    splits = [np.where(fold == f, "TEST", "TRAIN") for f in range(folds)]
    if probe.selects_on_val:  # a grid of heads: a patient-grouped fifth of each fold's training rows is VAL
        for split in splits:
            rest = split == "TRAIN"
            split[np.flatnonzero(rest)[patient_folds(data.rows[rest], VAL_FOLDS, seed=1) == 0]] = "VAL"
    train_n = float(np.mean([(split == "TRAIN").sum() for split in splits]))
    steps = math.ceil(adult_train / probe.batch_size) / math.ceil(train_n / probe.batch_size)
    epochs = max(probe.epochs, math.ceil(probe.epochs * steps))
    config = params.with_overrides({"probe.epochs": epochs, "probe.fractions": [1.0]}).probe
    spec = config.spec(time_steps=token_time_steps(params.pretrain))
    predicted = np.zeros((len(config.seeds), len(data.true)))
    for split in splits:
        frame = data.rows.assign(Split=split)
        fitted = fit_task(data.tokens, frame, "ef", config, spec)
        if isinstance(fitted, NotMeasured):
            return fitted
        predicted[:, fitted.test_rows] = fitted.per_seed
    return {"folds": folds, "probe_epochs": epochs, "ef_mae": mae(predicted, data.true)}


def run_baselines(params: Params, adult: DataLayout, folder: Path) -> dict:
    """The encoder-free baselines of a seed table (evaluation.baselines, as the evaluation reports them): the
    mean predictor and the pixel-only estimators, on exactly the rows the probes fit on (pixel features
    cached in `folder`)."""
    table = build_clip_cache(adult.dataset_dir, adult.cache_dir, manifest=adult.manifest)
    return {
        "mean_predictor": baselines.mean_predictor(table, params.probe),
        "pixel": baselines.pixel(params, table, adult.cache_dir, folder),
    }


def pediatric_shift(
    encoder: VideoViT, params: Params, data: DataLayout, ef: TaskProbes, folds: int,
    on_progress: Progress | None,
) -> dict | NotMeasured:  # fmt: skip
    """Zero-shot (the adult ensemble, unchanged) vs probe-trained EF MAE on every labelled pediatric study;
    mean ± std over probe seeds, `value` the ensemble's."""
    loaded = load_pediatric(encoder, params, data.dataset_dir, data.cache_dir, on_progress)
    if isinstance(loaded, NotMeasured):
        return loaded
    trained = probe_trained(loaded, params, folds, ef.ensemble.members[0].train_examples)
    if isinstance(trained, NotMeasured):
        return trained
    return {
        "n": len(loaded.true), "folds": trained["folds"], "probe_epochs": trained["probe_epochs"],
        "zero_shot_ef_mae": zero_shot(loaded, ef.ensemble, None)["ef_mae"],
        "probe_trained_ef_mae": trained["ef_mae"],
        "mean_predictor_ef_mae": float(np.abs(loaded.true - loaded.true.mean()).mean()),
    }  # fmt: skip


def measure(
    encoder: VideoViT,
    params: Params,
    adult: DataLayout,
    pediatric: DataLayout | None,
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

    config, clips = params.pretrain, params.probe.clips_per_video
    table = build_clip_cache(adult.dataset_dir, adult.cache_dir, manifest=adult.manifest)
    tokens = embed_cached(encoder, config, adult.cache_dir, table.FileName, clips, "embed", on_progress)
    lap("embed")
    result = fit_protocol(tokens, table, params.probe, token_time_steps(config))
    lap("probes")
    report = result.report()
    curves = report["label_efficiency"]
    view = result.tasks.get("view", NotMeasured("no view probe (probe.tasks)"))
    out: dict = {"n_videos": len(table), "n_test": int(split_masks(table)[1].sum())}
    out |= {key: report[key] for key in ("ef_mae", "ef_rmse", "ef_r2")}
    out["ef_label_efficiency"] = curves.get("ef_mae", out["ef_mae"])
    out["view_accuracy"] = view if isinstance(view, NotMeasured) else curves["view_accuracy"]
    ef = result.tasks.get("ef", NotMeasured("no ef probe (probe.tasks)"))
    if isinstance(ef, NotMeasured):
        out |= {"robustness": ef, "pediatric": ef}
    else:
        names = table.FileName[ef.test_rows].tolist()
        # per TEST video, the served ensemble's EF: the paired bootstrap CIs of the claims draw from these
        out["ef_test"] = {"FileName": names, "true": ef.true.tolist(), "predicted": ef.served.tolist()}
        out["ef_selection"] = selections(ef.ensemble)  # the head each served EF probe is (VAL-selected)
        out["robustness"] = robustness_report(
            encoder, config, adult.cache_dir, names, ef.true, ef.ensemble, ef.metrics["mae"],
            params.evaluate, clips, on_progress,
        )  # fmt: skip
        lap("robustness")
        out["pediatric"] = (
            NotMeasured("no pediatric dataset given")
            if pediatric is None
            else pediatric_shift(encoder, params, pediatric, ef, pediatric_folds, on_progress)
        )
        lap("pediatric")
    out["seconds"] = seconds
    return out
