"""Pediatric zero-shot: the adult-trained served EF probes applied unchanged to every labelled study of the
pediatric dataset (evaluate.pediatric_dataset), beside the adult mean predictor on the same studies."""

from __future__ import annotations

import numpy as np

from config.params import Params
from evaluation.results import NotMeasured
from evaluation.subgroups import mae
from evaluation.tokens import Progress, embed_cached
from model.data import build_clip_cache
from model.probe_artifact import ProbeEnsemble
from model.vision_transformer import VideoViT
from ultrasound.echonet import file_list


def pediatric_report(
    encoder: VideoViT,
    params: Params,
    ef: ProbeEnsemble,
    train_mean: float | None,
    on_progress: Progress | None = None,
) -> dict | NotMeasured:
    """{dataset, n, ef_mae (summary), mean_predictor_ef_mae} or why it cannot be measured."""
    layout = params.layout()
    folder = layout.pediatric_dir
    if folder is None:
        return NotMeasured("evaluate.pediatric_dataset is null")
    if not file_list(folder).is_file():
        return NotMeasured(f"{folder} not found")
    name = folder.name
    table = build_clip_cache(folder, layout.data.cache_of(name), manifest=file_list(folder))
    true = table.EF.to_numpy(float)
    rows = np.isfinite(true)
    if not rows.any():
        return NotMeasured(f"{folder} has no EF labels")
    names = table.FileName[rows].tolist()
    cache, clips = layout.data.cache_of(name), params.probe.clips_per_video
    tokens = embed_cached(encoder, params.pretrain, cache, names, clips, "pediatric", on_progress)
    out = {"dataset": name, "n": int(rows.sum()), "ef_mae": mae(ef.per_seed(tokens), true[rows])}
    if train_mean is not None:
        out["mean_predictor_ef_mae"] = float(np.abs(true[rows] - train_mean).mean())
    return out
