"""Frozen-encoder embeddings: tokens of several evenly spaced clips per video, cached per encoder version
under data/embeddings/<version>/ (tokens.npy [V, C, N, D] float16, pooled.npy [V, D], index.csv)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from model.config import PretrainConfig
from model.data import build_clip_cache, clip_starts, cut_clip, to_tensor
from model.jepa import build_encoder
from model.vision_transformer import VideoViT


def load_encoder(config: PretrainConfig, weights: str | Path | None) -> VideoViT:
    """A run's encoder (encoder.pt), or a randomly initialised one (the baseline) when weights is None."""
    torch.manual_seed(config.optimization.seed)
    encoder = build_encoder(config)
    if weights is not None:
        encoder.load_state_dict(torch.load(weights, map_location="cpu"))
    return encoder.eval()


@torch.no_grad()
def embed_videos(
    encoder: VideoViT, config: PretrainConfig, dataset_dir: Path, cache_dir: Path, clips_per_video: int,
    on_progress: Callable[[int, int], None] | None = None, manifest: Path | None = None,
) -> tuple[np.ndarray, pd.DataFrame]:  # fmt: skip
    """Tokens [V, C, N, D] (float16) of every video of the manifest (default the dataset's FileList.csv;
    pipelines pass the layout's manifest, the validated one), and the manifest rows."""
    table = build_clip_cache(dataset_dir, cache_dir, manifest=manifest)
    d = config.data
    span = d.frames * d.frame_step
    out = np.zeros((len(table), clips_per_video, encoder.num_tokens, encoder.width), dtype=np.float16)
    for i, name in enumerate(table.FileName):
        video = np.load(Path(cache_dir) / f"{name}.npy", mmap_mode="r")
        clips = [
            to_tensor(cut_clip(video, s, d.frames, d.frame_step), d.resolution)
            for s in clip_starts(len(video), span, clips_per_video)
        ]
        out[i] = encoder(torch.stack(clips)).numpy().astype(np.float16)
        if on_progress:
            on_progress(i + 1, len(table))
    return out, table


def write_embeddings(tokens: np.ndarray, table: pd.DataFrame, out_dir: Path) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    np.save(out_dir / "tokens.npy", tokens)
    np.save(out_dir / "pooled.npy", tokens.astype(np.float32).mean(axis=(1, 2)))
    table.to_csv(out_dir / "index.csv", index=False)
    return out_dir
