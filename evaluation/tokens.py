"""Clean token caches for an evaluation: reuse an embeddings folder (`echojepa embed`'s
data/embeddings/<version>/) when it covers exactly the manifest with the encoder's token shape, else embed
the clip cache with the same clips as model.embed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from evaluation.robustness import embed_frames
from model.config import PretrainConfig
from model.embed import write_embeddings
from model.vision_transformer import VideoViT

Progress = Callable[[str, int, int], None]  # (phase, done, total)


def embed_cached(
    encoder: VideoViT, config: PretrainConfig, cache_dir: Path, names, clips: int, phase: str,
    on_progress: Progress | None = None,
) -> np.ndarray:  # fmt: skip
    """Tokens [V, C, N, D] of videos of the clip cache (uint8 `<cache_dir>/<name>.npy`)."""
    loaders = [lambda n=n: np.load(Path(cache_dir) / f"{n}.npy") for n in names]
    progress = (lambda done, total: on_progress(phase, done, total)) if on_progress else None
    return embed_frames(encoder, config, loaders, clips, progress)


def reusable_tokens(
    folder: Path | None, table: pd.DataFrame, encoder: VideoViT, clips: int
) -> np.ndarray | str:
    """The tokens of an embeddings folder when they cover exactly this manifest (same FileNames, same order)
    with this encoder's token shape and clip count; otherwise the reason they cannot be used."""
    if folder is None:
        return "computed"
    folder = Path(folder)
    if not (folder / "tokens.npy").is_file() or not (folder / "index.csv").is_file():
        return f"computed ({folder} has no tokens.npy / index.csv)"
    index = pd.read_csv(folder / "index.csv")
    tokens = np.load(folder / "tokens.npy", mmap_mode="r")
    if index.FileName.astype(str).tolist() != table.FileName.astype(str).tolist():
        return f"computed ({folder} covers other studies than the manifest)"
    if tokens.shape != (len(table), clips, encoder.num_tokens, encoder.width):
        return f"computed ({folder} tokens {tokens.shape} do not match this encoder and clip count)"
    return np.asarray(tokens)


def clean_tokens(
    encoder: VideoViT, config: PretrainConfig, cache_dir: Path, table: pd.DataFrame, clips: int,
    folder: Path | None, phase: str, on_progress: Progress | None = None, key: dict | None = None,
) -> tuple[np.ndarray, str]:  # fmt: skip
    """Tokens of every manifest row and where they came from ("reused <folder>" or "computed (why)").

    With a `key` (what the tokens depend on), the folder is a cache this function owns: reused only when
    its `key.json` matches, (re)written otherwise. Without one it is a read-only embeddings folder."""
    reused = reusable_tokens(folder, table, encoder, clips)
    if key is not None and not isinstance(reused, str):
        meta = Path(folder) / "key.json"
        if not meta.is_file() or json.loads(meta.read_text()) != key:
            reused = f"computed ({folder} was embedded under another configuration)"
    if not isinstance(reused, str):
        return reused, f"reused {folder}"
    tokens = embed_cached(encoder, config, cache_dir, table.FileName, clips, phase, on_progress)
    if key is not None and folder is not None:
        write_embeddings(tokens, table, Path(folder))
        (Path(folder) / "key.json").write_text(json.dumps(key, indent=2) + "\n")
    return tokens, reused
