"""The baselines of the same run: the random-init frozen encoder (the run's architecture and seed, no
training) through the candidate's exact probe protocol (evaluation.probe_protocol, the same training frame),
the mean predictor (the EF mean of the rows the probes train on) and the pixel-only estimators
(evaluation.pixel_baselines, fitted on those same rows).

The random-init result depends on the frame, the architecture, its seed and the probe protocol, never on the
candidate, so a cache folder keeps both its tokens and its probe results for the next evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from config.params import Params
from evaluation.pixel_baselines import ESTIMATORS, FOLDS, PixelFeatures, fit_estimator, pixel_features
from evaluation.probe_protocol import TaskProbes, fit_protocol, predictions, protocol_rows
from evaluation.results import NotMeasured, jsonable
from evaluation.tokens import Progress, clean_tokens
from model.config import PretrainConfig, ProbeConfig, token_time_steps
from model.embed import load_encoder


def token_key(config: PretrainConfig, clips: int) -> dict:
    """What random-init tokens depend on: the architecture, its seed, the clip geometry and count."""
    d = config.data
    return {
        "model": config.model.model_dump(mode="json"), "seed": config.optimization.seed, "clips": clips,
        "frames": d.frames, "frame_step": d.frame_step, "resolution": d.resolution,
    }  # fmt: skip


def results_key(params: Params, frame: pd.DataFrame) -> str:
    """A digest of everything the random-init probe results depend on."""
    columns = [c for c in ("FileName", "Split", "EF", "View") if c in frame]
    protocol = {
        "tokens": token_key(params.pretrain, params.probe.clips_per_video),
        "probe": params.probe.model_dump(mode="json"),
        "frame": hashlib.sha256(frame[columns].to_csv(index=False).encode()).hexdigest(),
        # 2: with the served ensemble's TEST EF predictions (the paired comparisons' input); 3: the heads
        # selected on VAL
        "report": 3,
    }
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()


def protocol_summary(tokens: np.ndarray, frame: pd.DataFrame, params: Params) -> dict:
    """The headline metrics and label-efficiency curves of the probe protocol on some tokens (the random-init
    baseline's; the seed table takes the same `ProtocolResult.report` and keeps the fitted probes), and the
    served ensemble's per-video TEST EF predictions (`ef_predictions`), which the paired comparisons of
    evaluation.comparisons draw from."""
    result = fit_protocol(tokens, frame, params.probe, token_time_steps(params.pretrain))
    summary = result.report()
    ef = result.tasks.get("ef")
    if isinstance(ef, TaskProbes):
        summary["ef_predictions"] = per_video(ef, frame)
    return jsonable(summary)


def per_video(result: TaskProbes, frame: pd.DataFrame) -> dict[str, list]:
    """{FileName, true, predicted} lists of an EF task's served TEST predictions (evaluation.bootstrap's
    `paired_errors` input)."""
    table = predictions(result, frame)
    return {
        "FileName": table.FileName.astype(str).tolist(),
        "true": table.actual.astype(float).tolist(),
        "predicted": table.predicted.astype(float).tolist(),
    }


def random_init(
    params: Params,
    table: pd.DataFrame,
    frame: pd.DataFrame,
    cache_dir: Path,
    folder: Path | None = None,
    on_progress: Progress | None = None,
) -> tuple[dict, str]:
    """The random-init encoder's results under the probe protocol, and where its tokens came from.

    Args:
        table: the manifest rows (clip cache order); frame: the probes' training frame (same rows).
        folder: cache of the random-init tokens (tokens.npy, index.csv, key.json) and results (results.json).
    """
    key = results_key(params, frame)
    results = Path(folder) / "results.json" if folder is not None else None
    if results is not None and results.is_file():
        cached = json.loads(results.read_text())
        if cached.get("key") == key:
            return cached["random_init"], f"reused {folder} (tokens and probe results)"
    config, clips = params.pretrain, params.probe.clips_per_video
    tokens, source = clean_tokens(
        load_encoder(config, None), config, cache_dir, table, clips, folder, "embed_random_init", on_progress,
        key=token_key(config, clips),
    )  # fmt: skip
    result = protocol_summary(tokens, frame, params)
    if results is not None:
        results.write_text(json.dumps({"key": key, "random_init": result}, indent=2) + "\n")
    return result, source


def mean_predictor(frame: pd.DataFrame, config: ProbeConfig) -> dict:
    """EF predicted as the mean of exactly the rows the probes train on (labelled TRAIN with a grid of
    heads, which VAL selects among; labelled TRAIN + VAL with one head: `protocol_rows`), scored on the
    labelled TEST studies. (Fitting it on TRAIN alone, while the probes saw VAL too, let a near-constant
    probe "beat" it on small data.)"""
    ef = pd.to_numeric(frame.EF, errors="coerce").to_numpy(float)
    rows = protocol_rows(frame, config)
    train, test = rows.fit & np.isfinite(ef), rows.test & np.isfinite(ef)
    if not train.any() or not test.any():
        return {"ef_mae": NotMeasured(f"no labelled {rows.fit_on} or TEST studies"), "fit_on": rows.fit_on}
    mean = float(ef[train].mean())
    error = ef[test] - mean
    return {
        "ef_mae": float(np.abs(error).mean()), "ef_rmse": float(np.sqrt((error**2).mean())),
        "train_mean": mean, "fit_on": rows.fit_on, "n_fit": int(train.sum()),
    }  # fmt: skip


def pixel_key(params: Params, names: list[str], cache_dir: Path) -> dict:
    """What the pixel features depend on: the clip geometry and count, the token grid, and each cached
    video's file (name, size and modification time: a re-decoded video is a new one)."""
    d, m = params.data, params.model
    stats = [(n, *((p := Path(cache_dir) / f"{n}.npy").stat().st_size, p.stat().st_mtime_ns)) for n in names]
    return {
        "frames": d.frames, "frame_step": d.frame_step, "resolution": d.resolution, "tubelet": m.tubelet,
        "patch": m.patch_size, "clips": params.probe.clips_per_video, "estimators": list(ESTIMATORS),
        "videos": hashlib.sha256(json.dumps(stats).encode()).hexdigest(),
    }  # fmt: skip


def cached_pixel_features(
    params: Params, names: list[str], cache_dir: Path, folder: Path | None
) -> tuple[PixelFeatures, str]:
    """The pixel features of the named videos of the clip cache, reused from `folder/pixel_features.npz`
    when its key matches (about 15 ms a video to compute on one thread; the random-init cache folder keeps
    them)."""
    key = pixel_key(params, names, cache_dir)
    path = Path(folder) / "pixel_features.npz" if folder is not None else None
    if path is not None and path.is_file():
        saved = np.load(path)
        if json.loads(str(saved["key"])) == key:
            return PixelFeatures(tuple(names), *(saved[e] for e in ESTIMATORS)), f"reused {path}"
    features = pixel_features(
        None, names, params.data, params.model, params.probe.clips_per_video, cache_dir=cache_dir
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {e: features.matrix(e) for e in ESTIMATORS}
        np.savez(path, key=np.array(json.dumps(key)), **arrays)
    return features, "computed"


def pixel(
    params: Params, frame: pd.DataFrame, cache_dir: Path, folder: Path | None = None
) -> dict | NotMeasured:
    """The pixel-only EF estimators of the shortcut audit (evaluation.pixel_baselines: tubelet ridge,
    per-pixel temporal-std ridge, dark-area change) as baselines of the same run: features from the clips
    the probes see (the clip cache, `probe.clips_per_video` clips at the encoder's clip starts), fitted on
    exactly the labelled rows the probes fit on (`protocol_rows`: TRAIN with a grid of heads, TRAIN+VAL with
    one), each tuned by 5-fold CV on TRAIN, scored on the labelled TEST studies. `best` is the lowest TEST
    MAE: the hardest of them for the candidate to beat."""
    rows = protocol_rows(frame, params.probe)
    ef = pd.to_numeric(frame.EF, errors="coerce").to_numpy(float)
    keep = np.isfinite(ef) & (rows.fit | rows.test)
    table = frame[keep].assign(EF=ef[keep])
    n_train = int((table.Split.astype(str).str.upper() == "TRAIN").sum())
    if n_train < FOLDS or not rows.test[keep].any():
        return NotMeasured(f"{n_train} labelled TRAIN studies (the {FOLDS}-fold CV needs {FOLDS}) or no "
                           "labelled TEST studies")  # fmt: skip
    names = frame.FileName.astype(str).tolist()
    features, source = cached_pixel_features(params, names, cache_dir, folder)
    test = table.Split.astype(str).str.upper().to_numpy() == "TEST"
    true, test_names = table.EF.to_numpy(float)[test], table.FileName.astype(str).to_numpy()[test]
    estimators = {}
    for name in ESTIMATORS:
        predicted, tuned = fit_estimator(name, features.matrix(name)[keep], table, fit_on=rows.fit_on)
        error = predicted - true
        estimators[name] = {
            "ef_mae": float(np.abs(error).mean()), "ef_rmse": float(np.sqrt((error**2).mean())),
            "tuned": tuned,
            "ef_predictions": {"FileName": test_names.tolist(), "true": true.tolist(),
                               "predicted": predicted.astype(float).tolist()},
        }  # fmt: skip
    best = min(estimators, key=lambda e: estimators[e]["ef_mae"])
    return {
        "estimators": estimators, "best": best, "fit_on": rows.fit_on,
        "n_fit": int(np.isin(table.Split.astype(str).str.upper(), rows.fit_on.split("+")).sum()),
        "features": source,
    }  # fmt: skip
