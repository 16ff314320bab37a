"""Mask statistics: per sample the two V-JEPA generators target about 0.6 and 0.8 of the tokens."""

from __future__ import annotations

import numpy as np
import torch

from model.masks import VJEPA_GENERATORS, block_size, multiblock_masks, spatial_block_mask, tube_masks


def _per_sample_ratio(spec, grid, batches: int = 200) -> float:
    g = torch.Generator().manual_seed(0)
    _, h, w = grid
    ratios = []
    for _ in range(batches):
        size = block_size(spec, h, w, g)
        ratios.append(spatial_block_mask(spec, h, w, size, g).float().mean().item())
    return float(np.mean(ratios))


def test_generators_match_vjepa_reference_ratios() -> None:
    for grid in ((8, 7, 7), (8, 14, 14)):  # 112 px and 224 px at patch 16
        short, long = (_per_sample_ratio(s, grid) for s in VJEPA_GENERATORS)
        assert 0.55 <= short <= 0.7, (grid, short)
        assert 0.75 <= long <= 0.88, (grid, long)


def test_batch_masks_partition_tokens_and_stack() -> None:
    g = torch.Generator().manual_seed(1)
    ctx, tgt = multiblock_masks(VJEPA_GENERATORS[0], 8, (8, 7, 7), g)
    assert ctx.shape[0] == tgt.shape[0] == 8
    for c, t in zip(ctx, tgt, strict=True):
        assert not set(c.tolist()) & set(t.tolist())
    assert ctx.shape[1] >= 4


def test_tube_mask_hides_the_same_positions_in_every_frame() -> None:
    g = torch.Generator().manual_seed(2)
    vis, msk = tube_masks(0.9, 4, (8, 7, 7), g)
    assert msk.shape[1] == 8 * 44 and vis.shape[1] == 8 * 5
    spatial = msk[0] % 49
    assert all((spatial[i * 44 : (i + 1) * 44] == spatial[:44]).all() for i in range(8))
