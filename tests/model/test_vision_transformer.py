"""Shapes of the encoder, predictor and positions."""

from __future__ import annotations

import pytest
import torch

from model.predictor import Predictor
from model.vision_transformer import PRESETS, VideoViT, sincos_3d


def test_encoder_tokens_and_context_subset() -> None:
    enc = VideoViT(preset="tiny", frames=16, resolution=112, patch_size=16, tubelet=2)
    clips = torch.randn(2, 1, 16, 112, 112)
    out = enc(clips)
    assert enc.grid == (8, 7, 7) and out.shape == (2, 392, PRESETS["tiny"].width)
    keep = torch.tensor([[0, 5, 9], [1, 2, 3]])
    assert enc(clips, keep=keep).shape == (2, 3, enc.width)


def test_positions_are_distinct_and_fixed() -> None:
    pos = sincos_3d(96, (8, 7, 7))
    assert pos.shape == (392, 96)
    assert torch.cdist(pos, pos).add(torch.eye(392) * 1e3).min() > 0.1


def test_predictor_returns_encoder_width_at_targets() -> None:
    pred = Predictor(encoder_width=96, grid=(8, 7, 7), width=48, depth=2, heads=4, generators=2)
    ctx, tgt = torch.arange(10)[None].repeat(2, 1), torch.arange(10, 30)[None].repeat(2, 1)
    out = pred(torch.randn(2, 10, 96), ctx, tgt, generator=1)
    assert out.shape == (2, 20, 96)
    assert torch.count_nonzero(pred.mask_tokens) == 0  # zero-initialised


def test_large_preset_is_vit_l() -> None:
    assert (PRESETS["large"].width, PRESETS["large"].depth, PRESETS["large"].heads) == (1024, 24, 16)
    with pytest.raises(ValueError, match="unknown model preset"):
        VideoViT(preset="huge")
