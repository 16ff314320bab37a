"""The baselines of the same run: the random-init frozen encoder (the run's architecture and seed, no
training) under the candidate's exact probe protocol, and the mean predictor (the TRAIN EF mean).

The random-init result depends on the data, the architecture, its seed and the probe protocol, never on
the candidate, so a cache folder keeps both its tokens and its probe results for the next evaluation."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.config import EvaluationConfig
from evaluation.tokens import Progress, clean_tokens
from model.config import PretrainConfig, ProbeConfig
from model.embed import load_encoder


def token_key(config: PretrainConfig, clips: int) -> dict:
    """What random-init tokens depend on: the architecture, its seed, the clip geometry and count."""
    d = config.data
    return {
        "model": config.model.model_dump(mode="json"), "seed": config.optimization.seed, "clips": clips,
        "frames": d.frames, "frame_step": d.frame_step, "resolution": d.resolution,
    }  # fmt: skip


def results_key(
    config: PretrainConfig, table: pd.DataFrame, eval_config: EvaluationConfig, probe_config: ProbeConfig
) -> str:
    """A digest of everything the random-init probe results depend on."""
    columns = [c for c in ("FileName", "Split", "EF", "View") if c in table]
    manifest = table[columns].to_csv(index=False)
    protocol = {
        "tokens": token_key(config, eval_config.clips_per_video),
        "probe": probe_config.model_dump(mode="json"),
        "seeds": eval_config.probe_seeds, "view_fractions": eval_config.view_fractions,
        "manifest": hashlib.sha256(manifest.encode()).hexdigest(),
    }  # fmt: skip
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()


def random_init(
    config: PretrainConfig,
    table: pd.DataFrame,
    cache_dir: Path,
    eval_config: EvaluationConfig,
    probe_config: ProbeConfig,
    protocol: Callable[[np.ndarray], dict],
    folder: Path | None = None,
    on_progress: Progress | None = None,
) -> tuple[dict, str]:
    """The random-init encoder's results under `protocol` (tokens -> result dict), and their source.

    Args:
        protocol: the candidate's probe protocol applied to other tokens.
        folder: cache of the random-init tokens (tokens.npy, index.csv, key.json) and results (results.json).
    """
    key = results_key(config, table, eval_config, probe_config)
    results = Path(folder) / "results.json" if folder is not None else None
    if results is not None and results.is_file():
        cached = json.loads(results.read_text())
        if cached.get("key") == key:
            return cached["random_init"], f"reused {folder} (tokens and probe results)"
    tokens, source = clean_tokens(
        load_encoder(config, None), config, cache_dir, table, eval_config.clips_per_video, folder,
        "embed_random_init", on_progress, key=token_key(config, eval_config.clips_per_video),
    )  # fmt: skip
    result = protocol(tokens)
    if results is not None:
        results.write_text(json.dumps({"key": key, "random_init": result}, indent=2) + "\n")
    return result, source


def mean_predictor(table: pd.DataFrame, ef_test: np.ndarray) -> dict:
    """EF predicted as the mean of the labelled TRAIN studies, scored on the labelled TEST studies."""
    ef = table.EF.to_numpy(float)
    train = (table.Split.astype(str).str.upper() == "TRAIN").to_numpy() & np.isfinite(ef)
    if not train.any() or not ef_test.any():
        return {"ef_mae": "n/a (no labelled TRAIN or TEST studies)", "fit_on": "TRAIN"}
    mean = float(ef[train].mean())
    error = ef[ef_test] - mean
    return {
        "ef_mae": float(np.abs(error).mean()), "ef_rmse": float(np.sqrt((error**2).mean())),
        "train_mean": mean, "fit_on": "TRAIN",
    }  # fmt: skip
