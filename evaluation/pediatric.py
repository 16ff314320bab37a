"""Pediatric zero-shot: the adult-trained served EF probes applied unchanged to every labelled study of the
pediatric dataset (evaluate.pediatric_dataset), beside the adult mean predictor on the same studies.

Loading (decode, embed the labelled studies) is apart from scoring, so the seed table scores the same tokens
zero-shot and with its probe-trained cross-validation, embedding them once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from config.params import Params
from evaluation.results import NotMeasured
from evaluation.subgroups import mae
from evaluation.tokens import Progress, embed_cached
from model.data import build_clip_cache
from model.probe_artifact import ProbeEnsemble
from model.vision_transformer import VideoViT
from ultrasound.echonet import file_list


@dataclass(frozen=True)
class PediatricSet:
    """The EF-labelled studies of a pediatric dataset and their clean tokens."""

    dataset: str
    rows: pd.DataFrame  # the labelled manifest rows, reindexed 0..n-1
    true: np.ndarray  # [n] EF
    tokens: np.ndarray  # [n, C, N, D]


def load_pediatric(
    encoder: VideoViT, params: Params, folder: Path, cache: Path, on_progress: Progress | None = None
) -> PediatricSet | NotMeasured:
    """An EchoNet-layout folder's labelled studies, decoded into `cache` and embedded with the clips of
    `params.probe` (or why there are none)."""
    if not file_list(folder).is_file():
        return NotMeasured(f"{folder} not found")
    table = build_clip_cache(folder, cache, manifest=file_list(folder))
    if "EF" not in table:
        return NotMeasured(f"{folder} has no EF labels")
    true = pd.to_numeric(table.EF, errors="coerce").to_numpy(float)
    labelled = np.isfinite(true)
    if not labelled.any():
        return NotMeasured(f"{folder} has no EF labels")
    rows = table[labelled].reset_index(drop=True)
    clips = params.probe.clips_per_video
    tokens = embed_cached(encoder, params.pretrain, cache, rows.FileName, clips, "pediatric", on_progress)
    return PediatricSet(Path(folder).name, rows, true[labelled], tokens)


def is_simulated(folder: Path) -> bool:
    """Whether a dataset was written by `echojepa simulate` (which leaves simulation.json in it)."""
    return (Path(folder) / "simulation.json").is_file()


def zero_shot(data: PediatricSet, ef: ProbeEnsemble, train_mean: float | None) -> dict:
    """{dataset, n, ef_mae (summary of the served ensemble), mean_predictor_ef_mae (adult TRAIN+VAL mean)}."""
    out = {"dataset": data.dataset, "n": len(data.true), "ef_mae": mae(ef.per_seed(data.tokens), data.true)}
    if train_mean is not None:
        out["mean_predictor_ef_mae"] = float(np.abs(data.true - train_mean).mean())
    return out


def pediatric_report(
    encoder: VideoViT,
    params: Params,
    ef: ProbeEnsemble,
    train_mean: float | None,
    on_progress: Progress | None = None,
) -> dict | NotMeasured:
    """The zero-shot result on the layout's pediatric set, or why it cannot be measured."""
    layout = params.layout()
    folder = layout.pediatric_dir
    if folder is None:
        return NotMeasured("evaluate.pediatric_dataset is null")
    real_model = not is_simulated(layout.data.dataset_dir)
    if is_simulated(folder) and real_model and not params.evaluate.synthetic_sets_gate_real_data:
        return NotMeasured(
            f"{folder.name} is simulated and the model's data ({layout.data.dataset}) is not: a synthetic "
            "set does not gate a real-data model (evaluate.synthetic_sets_gate_real_data)"
        )
    data = load_pediatric(encoder, params, folder, layout.data.cache_of(folder.name), on_progress)
    return data if isinstance(data, NotMeasured) else zero_shot(data, ef, train_mean)
