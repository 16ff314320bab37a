"""The baselines of the same run: the random-init frozen encoder (the run's architecture and seed, no
training) through the candidate's exact probe protocol (evaluation.probe_protocol, the same training frame),
and the mean predictor (the EF mean of the rows the probes train on).

The random-init result depends on the frame, the architecture, its seed and the probe protocol, never on the
candidate, so a cache folder keeps both its tokens and its probe results for the next evaluation."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from config.params import Params
from evaluation.probe_protocol import TaskProbes, fit_protocol, predictions, split_masks
from evaluation.results import NotMeasured, jsonable
from evaluation.tokens import Progress, clean_tokens
from model.config import PretrainConfig, token_time_steps
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
        "report": 2,  # 2: with the served ensemble's TEST EF predictions (the paired comparisons' input)
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


def mean_predictor(frame: pd.DataFrame) -> dict:
    """EF predicted as the mean of exactly the rows the probes train on (labelled TRAIN + VAL), scored on
    the labelled TEST studies. (Fitting it on TRAIN alone, while the probes saw VAL too, let a
    near-constant probe "beat" it on small data.)"""
    ef = pd.to_numeric(frame.EF, errors="coerce").to_numpy(float)
    train, test = (m & np.isfinite(ef) for m in split_masks(frame))
    if not train.any() or not test.any():
        return {"ef_mae": NotMeasured("no labelled TRAIN+VAL or TEST studies"), "fit_on": "TRAIN+VAL"}
    mean = float(ef[train].mean())
    error = ef[test] - mean
    return {
        "ef_mae": float(np.abs(error).mean()), "ef_rmse": float(np.sqrt((error**2).mean())),
        "train_mean": mean, "fit_on": "TRAIN+VAL", "n_fit": int(train.sum()),
    }  # fmt: skip
