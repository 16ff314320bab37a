"""Masks over a (t, h, w) token grid.

V-JEPA's multi-block masks: a union of spatial blocks spanning the whole clip in time; one block size drawn
per batch, positions per sample; context = complement. Every sample's indices are truncated to the
batch's shortest so they stack (as the reference code does). VideoMAE's tube masks: a random share of the
spatial positions, hidden through all time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class BlockMaskSpec:
    """One mask generator: `blocks` blocks each covering `spatial_scale` of the frame, aspect in range."""

    blocks: int
    spatial_scale: float
    aspect_ratio: tuple[float, float] = (0.75, 1.5)


# V-JEPA 2 / EchoJEPA: short-range (8 × 0.15) and long-range (2 × 0.7) generators
VJEPA_GENERATORS = (BlockMaskSpec(8, 0.15), BlockMaskSpec(2, 0.7))


def block_size(spec: BlockMaskSpec, h: int, w: int, g: torch.Generator) -> tuple[int, int]:
    area = spec.spatial_scale * h * w
    lo, hi = (math.log(a) for a in spec.aspect_ratio)
    aspect = math.exp(lo + (hi - lo) * torch.rand(1, generator=g).item())
    bh = max(1, min(h, round(math.sqrt(area * aspect))))
    bw = max(1, min(w, round(math.sqrt(area / aspect))))
    return bh, bw


def spatial_block_mask(
    spec: BlockMaskSpec, h: int, w: int, size: tuple[int, int], g: torch.Generator
) -> torch.Tensor:
    """bool [h, w]: True where any of the spec's blocks (of the batch's size) covers."""
    bh, bw = size
    mask = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(spec.blocks):
        top = int(torch.randint(0, h - bh + 1, (1,), generator=g))
        left = int(torch.randint(0, w - bw + 1, (1,), generator=g))
        mask[top : top + bh, left : left + bw] = True
    return mask


def multiblock_masks(
    spec: BlockMaskSpec, batch: int, grid: tuple[int, int, int], g: torch.Generator, min_context: int = 4
) -> tuple[torch.Tensor, torch.Tensor]:
    """Context and target token indices for a batch: ([B, Nc], [B, Nt]), truncated to the shortest.

    A sample whose blocks would leave fewer than `min_context` spatial positions visible is redrawn."""
    t, h, w = grid
    size = block_size(spec, h, w, g)
    contexts, targets = [], []
    for _ in range(batch):
        for _attempt in range(20):
            spatial = spatial_block_mask(spec, h, w, size, g)
            if (~spatial).sum() >= min_context:
                break
        full = spatial.expand(t, h, w).flatten()
        targets.append(torch.nonzero(full).squeeze(1))
        contexts.append(torch.nonzero(~full).squeeze(1))
    n_ctx = min(len(c) for c in contexts)
    n_tgt = min(len(x) for x in targets)
    # keep a random subset of each sample's indices (then sort) when truncating
    ctx = torch.stack([c[torch.randperm(len(c), generator=g)[:n_ctx]].sort().values for c in contexts])
    tgt = torch.stack([x[torch.randperm(len(x), generator=g)[:n_tgt]].sort().values for x in targets])
    return ctx, tgt


def tube_masks(
    ratio: float, batch: int, grid: tuple[int, int, int], g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """VideoMAE tube masking: ([B, N_visible], [B, N_masked]) token indices; `ratio` of spatial positions
    hidden in every frame."""
    t, h, w = grid
    n_spatial = h * w
    n_hidden = min(n_spatial - 1, max(1, round(ratio * n_spatial)))
    visible, masked = [], []
    offsets = torch.arange(t)[:, None] * n_spatial
    for _ in range(batch):
        perm = torch.randperm(n_spatial, generator=g)
        hide, keep = perm[:n_hidden].sort().values, perm[n_hidden:].sort().values
        visible.append((offsets + keep[None, :]).flatten().sort().values)
        masked.append((offsets + hide[None, :]).flatten().sort().values)
    return torch.stack(visible), torch.stack(masked)
