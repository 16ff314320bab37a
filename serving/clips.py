"""Encoder input clips and their per-clip outputs, and the compact wire format of the clip endpoint.

On the wire a clip is the base64 of its raw uint8 bytes, C order [frames, resolution, resolution] (the
model's `data.frames` and `data.resolution`, which GET /readyz reports as `clip_shape`): a 16×112×112 clip
is 268 kB of base64, about a tenth of the same clip written as a JSON array of numbers, and decodes in
well under a millisecond.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from model.data import clip_starts, cut_clip


@dataclass(frozen=True)
class ClipOutputs:
    """Per-clip outputs of a batch: EF [B], view probabilities [B, V], pooled embedding float32 [B, D]."""

    ef: np.ndarray
    view_probs: np.ndarray
    embedding: np.ndarray
    items: tuple[dict, ...] = ()  # the clip endpoint's response items, when the outputs came from it

    def rows(self) -> list[dict]:
        """One JSON-ready dict per clip (the clip endpoint's response items)."""
        return [
            {"ef": float(e), "view_probabilities": p.tolist(), "embedding": z.tolist()}
            for e, p, z in zip(self.ef, self.view_probs, self.embedding, strict=True)
        ]

    @classmethod
    def from_rows(cls, rows: list) -> ClipOutputs:
        """Back from the clip endpoint's items (dicts or pydantic models)."""
        items = tuple(r if isinstance(r, dict) else r.model_dump() for r in rows)
        return cls(
            np.array([r["ef"] for r in items], dtype=np.float64),
            np.array([r["view_probabilities"] for r in items], dtype=np.float64),
            np.array([r["embedding"] for r in items], dtype=np.float32),
            items,
        )


def cut_clips(frames: np.ndarray, count: int, length: int, step: int, resolution: int) -> np.ndarray:
    """`count` evenly spaced clips of `length` frames every `step` (looping a short video), resized to
    resolution² as training's `to_tensor` does (bilinear): uint8 [count, length, resolution, resolution]."""
    span = length * step
    clips = np.stack([cut_clip(frames, s, length, step) for s in clip_starts(len(frames), span, count)])
    if clips.shape[2:] == (resolution, resolution):
        return clips
    x = torch.from_numpy(clips).float()
    x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8).numpy()


def encode_clip(clip: np.ndarray) -> str:
    """uint8 [T, R, R] -> base64 text."""
    return base64.b64encode(np.ascontiguousarray(clip, dtype=np.uint8).tobytes()).decode("ascii")


def decode_clips(items: list[str], shape: tuple[int, int, int]) -> np.ndarray:
    """Base64 clips -> uint8 [B, T, R, R].

    Raises:
        ValueError: an item that is not base64 or not exactly T·R·R bytes (naming its index).
    """
    size = int(np.prod(shape))
    out = np.empty((len(items), *shape), dtype=np.uint8)
    for i, item in enumerate(items):
        try:
            raw = base64.b64decode(item, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ValueError(f"clip {i} is not base64 text") from None
        if len(raw) != size:
            dims = "x".join(map(str, shape))
            raise ValueError(f"clip {i} has {len(raw)} bytes; a {dims} uint8 clip has {size}")
        out[i] = np.frombuffer(raw, dtype=np.uint8).reshape(shape)
    return out
